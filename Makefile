# One entry point for people and CI. Everything is installed from the package
# registry into .venv; nothing relies on what was installed by hand.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The shared data folder sits beside the repository (see ../shared/data/README.md).
export IRNET_DATA_DIR ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test install install-test clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: the main job (prediction with the bundled default model on a few formulas)
run: install
	$(BIN)/irnet demo

## make test: the whole test suite (what CI runs)
test: install-test
	$(BIN)/python -m pytest -q tests

## make bench: speed/memory measurements; each writes benchmarks/RESULTS_*.md
bench: install-test
	$(BIN)/python benchmarks/bench_featurize.py
	$(BIN)/python benchmarks/bench_predict.py

clean:
	rm -rf $(VENV) .pytest_cache
