"""Train/val/test rows of each zoo model, recorded so that anyone can rebuild them.

The split of a trained model is recorded as a plain dict (``Split.record``) in its
model directory (``data.split`` of irnet.json), and :func:`rebuild_split` turns
that record back into the same rows, so anyone can re-score a shipped model.
:func:`split_features` featurizes the rows with the recipe's featurizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.constants import DEFAULT_FEATURIZER
from irnet_hub.errors import InvalidInputError
from irnet_hub.zoo.recipes import Recipe, get_recipe

SPLIT_SEED = 20190804  # KDD 2019; fixed so every split we make can be rebuilt by anyone
MATBENCH_SEED = 18012019  # the KFold seed Matbench uses for its 5 folds


@dataclass
class Split:
    """Train/val/test rows of one model (columns ``formula`` or ``structure``, and ``target``)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    record: dict[str, Any]  # JSON-able; rebuild_split(record) gives the same rows


def _read(relpath: str) -> pd.DataFrame:
    from irnet_hub.data import fetch, read_table

    return read_table(fetch(relpath))


def _carve(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    perm = np.random.default_rng(seed).permutation(len(df))
    n = int(len(df) * fraction)
    return df.iloc[perm[n:]], df.iloc[perm[:n]]


def rebuild_split(record: dict[str, Any]) -> Split:
    """The train/val/test rows that a model's recorded split names (see :class:`Split`)."""
    kind, files, fold = record["kind"], record["files"], int(record.get("fold", 0))
    seed = int(record.get("seed", SPLIT_SEED))
    if kind == "given":
        tr, va, te = (_read(files[k]) for k in ("train", "val", "test"))
    elif kind == "given-no-test":
        # The published test split is held out on purpose: the published val
        # split is our test, and 10 % of train (seeded) is our validation.
        tr, va = _carve(_read(files["train"]), 0.10, seed)
        te = _read(files["test"])
    elif kind == "random-90-10":
        # The 51k-row OQMD files: 10 % test, then 10 % of the rest for validation.
        df = _read(files["all"])
        perm = np.random.default_rng(seed).permutation(len(df))
        n_test = len(df) // 10
        test_idx, rest = perm[:n_test], perm[n_test:]
        n_val = len(rest) // 10
        tr, va, te = df.iloc[rest[n_val:]], df.iloc[rest[:n_val]], df.iloc[test_idx]
    elif kind == "matbench-5-fold":
        folder = files["folder"]
        tr, va, te = (_read(f"{folder}/{s}{fold}.csv") for s in ("train", "val", "test"))
    elif kind == "kfold-5":
        from sklearn.model_selection import KFold

        from irnet_hub.data import fetch

        raw = pd.read_json(fetch(files["structures"]), orient="split")
        target_col = [c for c in raw.columns if c != "structure"][-1]
        df = pd.DataFrame({"structure": raw["structure"], "target": raw[target_col].astype(float)})
        train_idx, test_idx = list(KFold(5, shuffle=True, random_state=MATBENCH_SEED).split(df))[fold]
        perm = np.random.default_rng(seed + fold).permutation(train_idx)
        n_val = len(perm) // 10
        tr, va, te = df.iloc[perm[n_val:]], df.iloc[perm[:n_val]], df.iloc[test_idx]
    else:
        raise InvalidInputError(kind, "unknown split kind in the model's record")
    return Split(tr, va, te, dict(record))


def split_record(recipe: Recipe, fold: int = 0) -> dict[str, Any]:
    """The JSON record of a recipe's split (fold ``fold`` for 5-fold recipes)."""
    text = {
        "given": "the published train/val/test files",
        "given-no-test": "test = the published val file (the published test file is held out); "
        f"val = 10 % of the published train file (numpy seed {SPLIT_SEED})",
        "random-90-10": f"random 10 % test, then 10 % of the rest as val (numpy seed {SPLIT_SEED})",
        "matbench-5-fold": f"CrabNet's matbench_cv fold {fold} (train/val/test files)",
        "kfold-5": f"KFold(5, shuffle=True, random_state={MATBENCH_SEED}) fold {fold}, as Matbench; "
        f"val = 10 % of the training folds (numpy seed {SPLIT_SEED} + fold)",
    }[recipe.split]
    record: dict[str, Any] = {"kind": recipe.split, "files": dict(recipe.files), "seed": SPLIT_SEED, "text": text}
    if recipe.folds > 1:
        record["fold"] = fold
    return record


def build_split(recipe: Recipe | str, fold: int = 0) -> Split:
    """The split of a recipe (by name or object), fold ``fold`` for 5-fold recipes."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    return rebuild_split(split_record(recipe, fold))


def exclude_split_of(split: Split, other: str, fold: int = 0) -> Split:
    """``split`` without the formulas of recipe ``other``'s val and test rows in its train and val.

    For a transfer source: a network that starts another recipe's training must not have
    seen that recipe's held-out compositions. The record says what was left out.
    """
    held_out = build_split(other, fold)
    held = set(held_out.val["formula"]) | set(held_out.test["formula"])
    record = {**split.record, "excluded": f"formulas of {other}'s val and test splits"}
    return Split(split.train[~split.train["formula"].isin(held)], split.val[~split.val["formula"].isin(held)],
                 split.test, record)  # fmt: skip


def split_features(split: Split, featurizer: str = DEFAULT_FEATURIZER) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(X, y) of train/val/test with ``featurizer`` (structures: Ward 2017, cached on disk)."""
    from irnet_hub.featurize import get_featurizer

    featurize = get_featurizer(featurizer).featurize
    out = {}
    for part in ("train", "val", "test"):
        df = getattr(split, part)
        items = list(df["structure"]) if "structure" in df.columns else df["formula"].tolist()
        kw = {"progress": False} if "structure" in df.columns else {}
        X = featurize(items, errors="raise", **kw).features
        out[part] = (X, df["target"].to_numpy(dtype=float))
    return out
