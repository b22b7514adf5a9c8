"""Reading the user's labelled data: formula CSVs and structure files.

A *table* is what training, evaluation and the baseline consume: the raw
inputs (formula strings or pymatgen Structures), the targets, and a short
description of where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.data import check_targets, read_table
from irnet_hub.errors import InvalidInputError

STRUCTURE_SUFFIXES = (".json", ".json.gz")


@dataclass
class Table:
    inputs: list[Any]  # formula strings or pymatgen Structures
    targets: np.ndarray | None
    source: str
    target_name: str = "target"

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, rows: np.ndarray) -> "Table":
        t = None if self.targets is None else self.targets[rows]
        return Table([self.inputs[i] for i in rows], t, self.source, self.target_name)


def load_table(
    data: str | Path | pd.DataFrame, input_kind: str = "composition", *, target: bool | None = True
) -> Table:
    """Read a ``formula,target`` CSV / DataFrame, or a structures file with targets.

    Structure files are pandas ``to_json(orient="split")`` frames with a
    ``structure`` column (as Matbench ships them) and the target in the last
    other column (or a column named ``target``). ``target=None`` reads the
    target when the data has one.
    """
    if isinstance(data, pd.DataFrame):
        df, source = data, "<DataFrame>"
    else:
        source = str(data)
        if input_kind == "structure" or str(data).endswith(STRUCTURE_SUFFIXES):
            return _load_structure_table(Path(data), target is not False)
        df = read_table(data, target=bool(target))
    if input_kind == "structure":
        if "structure" not in df.columns:
            raise InvalidInputError(source, "a structure model needs a 'structure' column")
        inputs = list(df["structure"])
    else:
        if "formula" not in df.columns:
            raise InvalidInputError(source, f"needs a 'formula' column; found {list(df.columns)}")
        inputs = list(df["formula"])
    targets = None
    if target is None:
        target = "target" in df.columns
    if target:
        if "target" not in df.columns:
            raise InvalidInputError(source, f"needs a 'target' column; found {list(df.columns)}")
        targets = pd.to_numeric(df["target"], errors="coerce").to_numpy(float)
        check_targets(targets, source, list(df.index))
    return Table(inputs, targets, source)


def _load_structure_table(path: Path, target: bool) -> Table:
    from pymatgen.core import Structure

    if not path.is_file():
        raise InvalidInputError(str(path), "file not found")
    try:
        df = pd.read_json(path, orient="split")
    except ValueError as e:
        raise InvalidInputError(str(path), f"not a pandas split-oriented JSON frame ({e})") from None
    if "structure" not in df.columns:
        raise InvalidInputError(str(path), f"needs a 'structure' column; found {list(df.columns)}")
    structures = []
    for i, s in enumerate(df["structure"]):
        try:
            structures.append(s if isinstance(s, Structure) else Structure.from_dict(s))
        except Exception as e:  # noqa: BLE001 - any malformed structure dict: name the row
            raise InvalidInputError(f"{path} row {i}", f"not a pymatgen Structure ({type(e).__name__}: {e})") from None
    targets, name = None, "target"
    if target:
        others = [c for c in df.columns if c != "structure"]
        if not others:
            raise InvalidInputError(str(path), "no target column next to 'structure'")
        name = "target" if "target" in others else others[-1]
        targets = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
        check_targets(targets, str(path), list(df.index))
    return Table(structures, targets, str(path), name)


def split_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, held-out) row indices with ``fraction`` held out."""
    if not 0.0 < fraction < 1.0:
        raise InvalidInputError(fraction, "a split fraction must be between 0 and 1")
    perm = np.random.default_rng(seed).permutation(n)
    n_out = max(1, int(round(n * fraction)))
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


@dataclass
class FeaturizedTable:
    X: np.ndarray  # (n_ok, F) float64, may contain NaN where element data are missing
    y: np.ndarray | None
    inputs: list[Any]
    failures: list  # RowFailure for rows that could not be featurized


def featurize_table(table: Table, featurizer: str, **kwargs: Any) -> FeaturizedTable:
    """Featurize every row; rows that fail are reported, not fatal."""
    from irnet_hub.featurize import get_featurizer

    _, fn = get_featurizer(featurizer)
    res = fn(table.inputs, errors="collect", **kwargs)
    y = None if table.targets is None else table.targets[res.rows]
    return FeaturizedTable(res.features, y, [table.inputs[i] for i in res.rows], res.failures)


def formula_of(item: Any) -> str:
    """A printable formula for a formula string, Composition or Structure."""
    if isinstance(item, str):
        return item
    comp = getattr(item, "composition", item)
    return getattr(comp, "reduced_formula", str(item))
