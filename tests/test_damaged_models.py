"""The damaged-model matrix (issue 11): every kind of damage, on every path that loads a model.

Damage kinds: a flipped byte in the weights, truncated weights, NaN weights
(with a manifest rewritten to match them, so only the finite-weights check can
tell), and a manifest that is missing, empty (``{"files": {}}``), not JSON,
a JSON list, or a JSON object without ``files``. Paths: ``irnet_hub.load``,
``irnet predict`` (exit 5), ``evaluate``, ``servable build``, ``publish``
(Hugging Face and DLHub, refused before any network), ``screen``, Keras
loading through our API, and ``pull`` of a registered model whose repository
copy is damaged. Every cell must refuse with :class:`IntegrityError` (or,
for ``pull``, report that no verified copy exists) and never return numbers.

Damaged copies are made in a temporary folder; ``servables/`` is only read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from irnet_hub import artifact
from irnet_hub.errors import IntegrityError, ModelNotAvailableError

REPO = Path(__file__).resolve().parents[1]
NAME = "oqmd-formation-enthalpy"  # eV/atom, so the screen path accepts it too
SOURCE = REPO / "servables" / NAME


def _flip(d: Path) -> None:
    p = d / "model.weights.h5"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _truncate(d: Path) -> None:
    p = d / "model.weights.h5"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _nan_weights(d: Path) -> None:
    import h5py

    with h5py.File(d / "model.weights.h5", "r+") as h5:
        names: list[str] = []
        h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 2 else None)
        ds = h5[names[-1]]
        ds[...] = np.full(ds.shape, np.nan, dtype=ds.dtype)
    # A manifest that matches the damaged file: only the finite-weights check can catch it.
    artifact.write_manifest(d)


def _manifest(text: str | None):
    def damage(d: Path) -> None:
        if text is None:
            (d / "manifest.json").unlink()
        else:
            (d / "manifest.json").write_text(text)
    return damage


DAMAGE = {
    "flipped-byte": _flip,
    "truncated": _truncate,
    "nan-weights": _nan_weights,
    "manifest-missing": _manifest(None),
    "manifest-empty": _manifest('{"files": {}}'),
    "manifest-not-json": _manifest("{not json"),
    "manifest-list": _manifest("[]"),
    "manifest-no-files": _manifest("{}"),
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    """One damaged copy of the shipped model per kind, each at <tmp>/<kind>/<NAME> (read by every path)."""
    root = tmp_path_factory.mktemp("damaged")
    out = {}
    for kind, damage in DAMAGE.items():
        d = root / kind / NAME
        # saved_model/ is not needed by any path here and not in the registry's file list.
        shutil.copytree(SOURCE, d, ignore=shutil.ignore_patterns("saved_model"))
        damage(d)
        out[kind] = d
    return out


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("data") / "test.csv"
    p.write_text("formula,target\nNaCl,-2.0\nFe2O3,-1.7\nMgO,-3.0\n")
    return p


def _load(d: Path, csv: Path, tmp: Path):
    import irnet_hub

    return irnet_hub.load(d).predict(["NaCl"])


def _evaluate(d: Path, csv: Path, tmp: Path):
    from irnet_hub.evaluation import evaluate

    return evaluate(d, csv)


def _servable(d: Path, csv: Path, tmp: Path):
    from irnet_hub.publish.servable import build_servable

    return build_servable(d, tmp / "servable", dlhub=False)


def _publish_hf(d: Path, csv: Path, tmp: Path):
    from irnet_hub.publish.hf import publish_hf

    # Port 9 (discard) on localhost: the integrity check must refuse before any connection.
    return publish_hf(d, "irnet-test/damaged", endpoint="http://127.0.0.1:9")


def _publish_dlhub(d: Path, csv: Path, tmp: Path):
    from irnet_hub.publish.dlhub import publish_dlhub

    class NoClient:
        def publish_servable(self, model):  # pragma: no cover - must never be reached
            raise AssertionError("a damaged model reached the DLHub client")

    return publish_dlhub(d, client=NoClient())


def _screen(d: Path, csv: Path, tmp: Path):
    from irnet_hub.stability.run import screen

    return screen(["Li-O"], max_atoms=2, model=d)


def _keras(d: Path, csv: Path, tmp: Path):
    return artifact.load_keras_model(d)


PATHS = {
    "load+predict": _load,
    "evaluate": _evaluate,
    "servable-build": _servable,
    "publish-hf": _publish_hf,
    "publish-dlhub": _publish_dlhub,
    "screen": _screen,
    "keras-load": _keras,
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_every_path_refuses_every_damage(kind, path, damaged, labelled_csv, tmp_path):
    if path == "publish-dlhub":
        pytest.importorskip("dlhub_sdk")
    with pytest.raises(IntegrityError) as err:
        PATHS[path](damaged[kind], labelled_csv, tmp_path)
    assert str(damaged[kind]) in str(err.value) or "model.weights.h5" in str(err.value)
    assert not (tmp_path / "servable").exists()  # nothing was built from a damaged model


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_cli_predict_exits_5_and_names_the_folder(kind, damaged):
    from irnet_hub.cli import main

    r = CliRunner().invoke(main, ["predict", str(damaged[kind]), "NaCl", "--json"])
    assert r.exit_code == 5, r.output
    assert "Traceback" not in r.output and "Error:" in r.output
    assert "prediction" not in r.output  # no numbers at all


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_cli_evaluate_exits_5(kind, damaged, labelled_csv):
    from irnet_hub.cli import main

    r = CliRunner().invoke(main, ["evaluate", str(damaged[kind]), "--data", str(labelled_csv), "--json"])
    assert r.exit_code == 5, r.output
    assert "mae" not in r.output


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_pull_refuses_a_damaged_repository_copy(kind, damaged, tmp_path, monkeypatch):
    monkeypatch.setenv("IRNET_HUB_SERVABLES", str(damaged[kind].parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from irnet_hub.hub import pull

    # A mismatching file is an integrity failure (exit 5); a missing one means no verified copy exists.
    with pytest.raises(IntegrityError if kind in ("flipped-byte", "truncated", "nan-weights") or "manifest-" in kind
                       and kind != "manifest-missing" else ModelNotAvailableError) as err:
        pull(NAME)
    assert "repository copy" in str(err.value) and ("mismatch" in str(err.value) or "missing" in str(err.value))


def test_intact_copy_passes_every_cheap_path(tmp_path, labelled_csv, monkeypatch):
    """The control: the same copy, undamaged, loads and predicts (so the refusals above are about damage)."""
    import irnet_hub

    d = tmp_path / NAME
    shutil.copytree(SOURCE, d, ignore=shutil.ignore_patterns("saved_model"))
    assert artifact.check_model_dir(d) == d
    df = irnet_hub.load(d).predict(["NaCl", "Fe"])
    assert np.isfinite(df["prediction"]).all() and df["prediction"].iloc[1] == 0.0
    monkeypatch.setenv("IRNET_HUB_SERVABLES", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert irnet_hub.pull(NAME) == d


def test_no_verify_warns_and_nan_outputs_are_still_an_error(damaged):
    """--no-verify skips the check with a warning; NaN weights then give NaN outputs, which are an error."""
    from irnet_hub.cli import main

    r = CliRunner().invoke(main, ["predict", str(damaged["nan-weights"]), "NaCl", "--no-verify", "--json"])
    assert "not verified" in r.output
    assert r.exit_code == 5 and "non-finite outputs" in r.output and "null" not in r.output


def test_manifest_must_list_the_files_the_model_needs(tmp_path):
    d = tmp_path / NAME
    shutil.copytree(SOURCE, d, ignore=shutil.ignore_patterns("saved_model"))
    m = json.loads((d / "manifest.json").read_text())
    del m["files"]["irnet.json"]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IntegrityError, match="does not list irnet.json"):
        artifact.check_model_dir(d)


def test_training_output_carries_a_manifest_that_verifies(hub_model_dir):
    """`irnet train` output verifies by default (no --no-verify needed for one's own models)."""
    assert artifact.check_model_dir(hub_model_dir) == hub_model_dir
    info = artifact.read_info(hub_model_dir)
    assert info["output_rules"]["non_negative"] and not info["output_rules"]["elements_are_zero"]  # bulk modulus
    assert "suggested by the property name" in info["output_rules"]["source"]
    assert info["composition_ranges"]["max_atoms_per_formula_unit"] >= 2
