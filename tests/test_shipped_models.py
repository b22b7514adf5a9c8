"""Every shipped servable: intact files, within the size budget, and its card's MAE reproduced.

Generated from the registry (like timm's tests): adding a model adds its checks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from irnet_hub import artifact
from irnet_hub.hub.registry import list_models

REPO = Path(__file__).resolve().parents[1]
SERVABLES = REPO / "servables"
sys.path.insert(0, str(REPO / "scripts"))

MODELS = [e.name for e in list_models() if (SERVABLES / e.name).is_dir()]


def test_registry_points_at_shipped_servables():
    assert "oqmd-formation-enthalpy" in MODELS  # the default model of `make run`
    assert sorted(MODELS) == sorted(p.name for p in SERVABLES.iterdir() if p.is_dir())


def test_size_budget():
    files = [p for p in SERVABLES.rglob("*") if p.is_file()]
    assert max(p.stat().st_size for p in files) < 16 * 2**20
    assert sum(p.stat().st_size for p in files) <= 200 * 2**20


@pytest.mark.parametrize("name", MODELS)
def test_servable_intact_and_card_mae_reproduced(name, data_dir, monkeypatch):
    from irnet_hub.evaluation import evaluate
    from train_zoo import build_fold, build_split
    from zoo_recipes import RECIPES

    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))
    folder = SERVABLES / name
    assert artifact.verify_manifest(folder) == []
    for keras_file in artifact.KERAS_FILES + ("README.md",):
        assert (folder / keras_file).is_file()
    info = artifact.read_info(folder)
    card = (folder / "README.md").read_text()
    assert "library_name: keras" in card and "model-index" in card and "Limitations" in card

    recipe = RECIPES[name]
    if recipe["split"] in ("matbench-5-fold", "kfold-5"):
        _, _, test, _ = build_fold(recipe, 0)
    else:
        _, _, test, _ = build_split(recipe)
    m = evaluate(folder, test)
    assert m["n"] == info["metrics"]["test"]["n"]
    assert m["mae"] == pytest.approx(info["metrics"]["test"]["mae"], rel=1e-5)
    assert f"{info['metrics']['test']['mae']:.4g}" in card
