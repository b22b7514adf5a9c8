# One entry point for people and CI. Everything is installed from the package
# registry into .venv; nothing relies on what was installed by hand.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The model server's environment: KServe needs pydantic 2, the dlhub extra of .venv pydantic 1.
SERVE_VENV ?= .venv-serve
SERVE_BIN  := $(SERVE_VENV)/bin
# The shared data folder sits beside the repository (see ../shared/data/README.md).
export IRNET_DATA_DIR ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test test-main test-serve test-main-variant test-serve-variant install install-test install-serve serve clean bench docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "elementembeddings==0.8.0"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	# Only the element tables of elementembeddings are used (the magpie145+oliynyk featurizer
	# of mp-shear-modulus, the descriptor ablation); its plotting/UMAP/t-SNE dependencies are
	# not needed, so it is installed without them.
	$(BIN)/pip install -q --no-deps "elementembeddings==0.8.0"
	touch $@ $(VENV)/.installed

$(SERVE_BIN)/python:
	$(PYTHON) -m venv $(SERVE_VENV) || python3 -m venv $(SERVE_VENV)
	$(SERVE_BIN)/python -m pip install -q --upgrade pip

$(SERVE_VENV)/.installed-serve: pyproject.toml | $(SERVE_BIN)/python
	$(SERVE_BIN)/pip install -q -e ".[serve-test]"
	$(SERVE_BIN)/pip install -q --no-deps "elementembeddings==0.8.0"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-serve: $(SERVE_VENV)/.installed-serve

## make run: the main job (prediction with the bundled default model on a few formulas)
run: install
	$(BIN)/irnet demo

## make serve: serve the default model on http://127.0.0.1:8080 (V2 protocol; see README "Remote inference")
serve: install-serve
	$(SERVE_BIN)/irnet serve oqmd-formation-enthalpy

# The float32 guard (tests/tolerance.py): the tests marked float32_paths run a second time with
# other kernels and threads than the first pass: OpenBLAS's AVX2 (Haswell) kernels, as an AMD CPU
# gets, TensorFlow without oneDNN, everything single-threaded. A tolerance that holds for one
# kernel choice only fails here, not on a CI machine with another CPU.
FLOAT_VARIANT := OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
                 TF_ENABLE_ONEDNN_OPTS=0 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
# Two processes, one test file each at a time (module fixtures are trained once per file).
PYTEST_MAIN := $(BIN)/python -m pytest -q -n 2 --dist loadfile tests --ignore=tests/serving
PYTEST_SERVE := $(SERVE_BIN)/python -m pytest -q tests/serving
# The tests' structure-feature cache: empty at the start of each run, shared by its two passes.
TEST_CACHE := $(CURDIR)/.test-cache

## make test: the whole test suite (what CI runs): tests/serving in .venv-serve, the rest in .venv,
## then the float32_paths tests again under other kernels
# The serving pass runs beside the main pass (and its variant beside the main variant): it is one
# process that mostly waits on sockets and timeouts (60 s wall for about 30 s of CPU), so the two
# cores are kept busy; --output-sync keeps each pass's report in one piece.
test: export IRNET_CACHE_DIR = $(TEST_CACHE)/features
test:
	$(MAKE) --no-print-directory -j2 install-test install-serve
	rm -rf $(TEST_CACHE)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-main test-serve
	$(MAKE) --no-print-directory -j2 --output-sync=target test-main-variant test-serve-variant

# The four passes of make test (each also runs on its own).
test-main test-serve test-main-variant test-serve-variant: export IRNET_CACHE_DIR = $(TEST_CACHE)/features
test-main:
	$(PYTEST_MAIN)
test-serve:
	$(PYTEST_SERVE)
# --dist load: the variant's 40 tests spread one by one (a third of them are in test_shipped_models.py,
# which alone kept one process busy while the other idled; 1:40 -> 1:18 here)
test-main-variant:
	$(FLOAT_VARIANT) $(PYTEST_MAIN) --dist load -m float32_paths
test-serve-variant:
	$(FLOAT_VARIANT) $(PYTEST_SERVE) -m float32_paths

## make docs: the API reference from the docstrings (pdoc) in docs/api/, its links checked
## (make test builds and checks it too: tests/test_api_reference.py)
docs: install-test
	$(BIN)/python scripts/api_reference.py docs/api

## make bench: speed/memory measurements; each writes benchmarks/RESULTS_*.md
bench: install-test install-serve
	$(BIN)/python benchmarks/bench_featurize.py
	$(BIN)/python benchmarks/bench_predict.py
	$(SERVE_BIN)/python benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) $(SERVE_VENV) .pytest_cache .test-cache
