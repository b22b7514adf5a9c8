"""Errors by kind and the CLI's one exit-code table (fast: no training, no network)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from irnet_hub import errors
from irnet_hub.cli import EXIT_CODES, exit_code, main

KINDS = [
    (errors.InvalidInputError("x", "bad"), 2),
    (errors.BatchInputError([errors.RowFailure(0, "Xx", "unknown element")]), 2),
    (errors.MissingDependencyError("dlhub-sdk", "pip install 'irnet-hub[dlhub]'"), 3),
    (errors.RemoteError("Hub answered 503"), 4),
    (errors.ModelNotAvailableError("model 'm' is not available"), 4),
    (errors.IntegrityError("model.weights.h5: sha256 mismatch"), 5),
    (errors.UnsupportedModelError("layer", "Dropout is not supported"), 6),
    (errors.IrnetError("anything else"), 1),
]


@pytest.mark.parametrize("error,code", KINDS, ids=lambda x: type(x).__name__ if isinstance(x, Exception) else str(x))
def test_exit_code_of_each_kind(error, code):
    assert exit_code(error) == code


def test_table_lists_each_code_once():
    codes = [c for _, c in EXIT_CODES]
    assert sorted(codes) == [1, 2, 3, 4, 5, 6]


def test_dlhub_missing_is_a_dependency_error_not_bad_input():
    from irnet_hub.publish.dlhub_meta import DLHubUnavailableError
    from irnet_hub.publish.hf import PublishError

    assert exit_code(DLHubUnavailableError("dlhub-sdk", "not installed")) == 3
    assert exit_code(PublishError("org/x", "upload failed (503)")) == 4


@pytest.mark.parametrize("error,code", [(errors.IntegrityError("oqmd: sha256 mismatch"), 5),
                                        (errors.ModelNotAvailableError("not available"), 4)])
def test_demo_reports_the_failure_instead_of_training_something_else(monkeypatch, error, code):
    import irnet_hub.hub

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(irnet_hub.hub, "load", fail)
    r = CliRunner().invoke(main, ["demo"])
    assert r.exit_code == code, r.output
    assert str(error) in r.output and "training" not in r.output.lower()


def test_install_without_servables_says_how_to_get_the_model(monkeypatch, tmp_path):
    """A wheel install has no servables/ folder: the message names the model, the cache and the remedies."""
    from irnet_hub.hub import cache

    monkeypatch.delenv(cache.SERVABLES_ENV, raising=False)
    monkeypatch.setattr(cache, "servables_dir", lambda: tmp_path / "site-packages" / "servables")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(errors.ModelNotAvailableError) as e:
        cache.pull("mp-bulk-modulus")
    text = str(e.value)
    assert "'mp-bulk-modulus'" in text and "no servables/ folder" in text and "wheel install" in text
    assert str(cache.hub_cache_dir()) in text and "irnet pull mp-bulk-modulus" in text
    assert "IRNET_HUB_SERVABLES" in text


@pytest.mark.slow
def test_real_wheel_install_without_servables(tmp_path):
    """Build the wheel, install it (not editable) into a folder, ask for a model offline, and predict with
    TensorFlow, Keras and Dask unimportable (a core install; issue 19).

    The wheel is built from a fresh copy of the tracked files: building in the checkout lets setuptools
    pick up a stale ``build/lib`` (CI failed on a schema folder that was only in a stale local build).
    """
    import os
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files", "irnet_hub", "pyproject.toml", "README.md", "LICENSE"],
                             cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "source"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, source / name)
    dist, target = tmp_path / "dist", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    r = subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(source)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = dist.glob("irnet_hub-*.whl")
    # every tracked package file (code and data) is in the wheel, and nothing untracked is
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("irnet_hub/")}
    assert shipped == {n for n in tracked if n.startswith("irnet_hub/")}
    r = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "IRNET_HUB_SERVABLES"}
    env.update(PYTHONPATH=str(target), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TF_CPP_MIN_LOG_LEVEL="3")
    code = "import irnet_hub.cli, sys; assert irnet_hub.cli.__file__.startswith(sys.argv.pop(1)); irnet_hub.cli.main()"
    r = subprocess.run([sys.executable, "-c", code, str(target), "predict", "mp-bulk-modulus", "NaCl"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 4, r.stderr[-3000:]
    assert "'mp-bulk-modulus' is not available" in r.stderr and "a wheel install ships none" in r.stderr
    assert str(tmp_path / "hf" / "hub") in r.stderr and "irnet pull mp-bulk-modulus" in r.stderr
    assert "Traceback" not in r.stderr
    # the wheel carries the vendored DLHub schemas where the publish code looks for them
    assert (target / "irnet_hub" / "publish" / "dlhub_schemas" / "servable" / "argument_type.json").is_file()

    # Issue 19: the core install predicts without TensorFlow, Keras or Dask; the extras are named.
    import email

    (info,) = target.glob("irnet_hub-*.dist-info")
    requires = email.message_from_string((info / "METADATA").read_text()).get_all("Requires-Dist")
    core = " ".join(r.split(";")[0] for r in requires if "extra ==" not in r)
    assert not any(heavy in core for heavy in ("keras", "tensorflow", "dask", "distributed", "pyarrow", "jax"))
    for extra, needs in (("train", ("keras", "tensorflow")), ("screen", ("dask", "distributed", "pyarrow"))):
        listed = " ".join(r for r in requires if f'extra == "{extra}"' in r)
        assert all(n in listed for n in needs), (extra, listed)
    # The wheel run with those packages unimportable: what a core install has.
    blocked = ("import sys\n"
               "class Absent:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in {'tensorflow', 'keras', 'dask', 'distributed', 'pyarrow', 'jax', "
               "'torch', 'kserve'}:\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Absent())\n" + code)
    env["IRNET_HUB_SERVABLES"] = str(repo / "servables")
    (tmp_path / "train.csv").write_text("formula,target\nNaCl,1.0\nKCl,2.0\n")

    def core_install(*args):
        return subprocess.run([sys.executable, "-c", blocked, str(target), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    r = core_install("predict", "mp-bulk-modulus", "NaCl", "Fe2 O3", "--csv")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[0].startswith("row,formula,parsed_formula,prediction,prediction_std")
    assert len(r.stdout.splitlines()) == 3
    for args, extra in ((("train", "train.csv", "-o", "m"), "train"),
                        (("screen", "--system", "Al-Ni", "--max-atoms", "3"), "screen")):  # fmt: skip
        r = core_install(*args)
        assert r.returncode == 3, (args, r.stderr[-3000:])
        assert f"pip install 'irnet-hub[{extra}]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


def test_a_structure_in_an_error_is_one_line():
    """Issue 16: errors about a disordered structure printed its multi-line Structure table."""
    from pymatgen.core import Lattice, Structure

    from irnet_hub.errors import BatchInputError, RowFailure

    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    text = str(BatchInputError([RowFailure(3, disordered, "disordered structure")]))
    assert text.count("\n") == 1 and "<structure Fe0.5 Co0.5, 1 sites>" in text


def test_a_missing_dependency_is_not_bad_input():
    """Issue 17 (names that mislead): MissingDependencyError was an InvalidInputError, so a featurizer's
    'bad row' handling could swallow it; it is an ImportError of irnet-hub's own, exit code 3."""
    from irnet_hub.cli import exit_code

    err = errors.MissingDependencyError("elementembeddings", "pip install --no-deps 'elementembeddings==0.8.0'")
    assert isinstance(err, errors.IrnetError) and isinstance(err, ImportError)
    assert not isinstance(err, errors.InvalidInputError)
    assert err.input == "elementembeddings" and "pip install" in str(err) and exit_code(err) == 3
