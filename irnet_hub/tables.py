"""The one reader of formula and structure tables, for training, evaluation, the baseline and prediction.

A *table* is the raw inputs (formula strings or pymatgen Structures), the
targets when the data has them, and a short description of where they came
from. Every CSV is read by :func:`read_csv` with one missing-value rule:
cells are text exactly as written (``NaN``, sodium nitride, stays a formula;
an empty cell is an empty formula, reported as invalid by the featurizer), and
targets are converted to numbers afterwards (a missing or non-numeric target
is an error naming its rows). Structure files of every format go through
:func:`irnet_hub.featurize.structure.load_structure_columns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.constants import STRUCTURE_MODEL
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


def sniff_separator(path: str | Path) -> str:
    """The column separator of a table file: ',' unless the header line is tab- or semicolon-separated."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
    except OSError:
        return ","
    if "," in header:
        return ","
    for sep in ("\t", ";"):
        if sep in header:
            return sep
    return ","


def rows_text(rows, limit: int = 10) -> str:
    """Row numbers for a message: '0, 3, 7' or '0, 3, ... (25 rows in all)'; plain ints, never np.int64(...)."""
    rows = [int(r) if not isinstance(r, str) else r for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} rows in all)" if len(rows) > limit else "")


# Beyond this a target overflows the float32 network (or its metrics): e.g. a modulus in Pa
# (1e11) passes, a value x 1e30 or 1e308 does not. Rescale the unit instead.
MAX_ABS_TARGET = 1e15


def check_targets(values, source: str, labels=None, unit: str = "rows") -> None:
    """Refuse NaN, infinite and huge (beyond :data:`MAX_ABS_TARGET`) targets (exit 2), naming the rows:
    metrics, JSON and a float32 network need finite numbers of a sane size."""
    v = np.asarray(values, dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        idx = np.flatnonzero(bad)
        rows = [labels[i] for i in idx] if labels is not None else idx
        kinds = "infinite" if np.isinf(v[bad]).all() else "non-numeric, missing or infinite"
        raise InvalidInputError(source, f"{kinds} target in {unit} {rows_text(rows)}")
    huge = np.abs(v) > MAX_ABS_TARGET
    if huge.any():
        idx = np.flatnonzero(huge)
        rows = [labels[i] for i in idx] if labels is not None else idx
        raise InvalidInputError(source, f"target beyond +-{MAX_ABS_TARGET:g} in {unit} {rows_text(rows)} (e.g. "
                                        f"{v[idx[0]]:g}); give it in a unit with smaller numbers")  # fmt: skip


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV with every cell as text, exactly as written (the one missing-value rule).

    A tab- or semicolon-separated file is recognised by its header line.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(str(path), "file not found")
    with p.open("rb") as fh:  # pandas' parser ends a field at a NUL byte: the rest of it would be lost unseen
        line = 1
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            nul = chunk.find(b"\0")
            if nul >= 0:
                line += chunk.count(b"\n", 0, nul)
                raise InvalidInputError(str(path), f"line {line} holds a NUL byte; it is not a text CSV")
            line += chunk.count(b"\n")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[], sep=sniff_separator(p))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InvalidInputError(str(path), f"not a readable CSV ({str(e).strip()})") from None
    if not isinstance(df.index, pd.RangeIndex):
        # pandas takes a first data row with one field more than the header as a row index,
        # which shifts every value one column over.
        raise InvalidInputError(str(path), f"line 2 has more fields than the header ({', '.join(map(str, df.columns))})")
    return df


def read_table(path: str | Path, *, target: bool = True) -> pd.DataFrame:
    """A ``formula,target`` CSV as a frame (``target`` optional when ``target=False``), targets as float."""
    df = read_csv(path)
    if "formula" not in df.columns:
        raise InvalidInputError(str(path), f"needs a 'formula' column (comma-, tab- or semicolon-separated "
                                           f"header); found {list(df.columns)}")
    if target:
        df["target"] = _targets(df, str(path), from_file=True)
    return df


def _targets(df: pd.DataFrame, source: str, from_file: bool = False) -> np.ndarray:
    if "target" not in df.columns:
        raise InvalidInputError(source, f"needs a 'target' column; found {list(df.columns)}")
    values = pd.to_numeric(df["target"], errors="coerce").to_numpy(float)
    # NaN and infinite targets both refused; a file's rows are named by their line in it (header: line 1).
    if from_file:
        check_targets(values, source, [i + 2 for i in range(len(df))], unit="lines")
    else:
        check_targets(values, source, list(df.index))
    return values


# Where a composition table keeps its formulas, when no column is named: ours, matminer's
# StrToComposition output, the Materials Project's.
FORMULA_COLUMNS = ("formula", "composition", "formula_pretty")


def formula_column(columns: Any, source: str, column: str | None = None) -> str:
    """The column holding the formulas: ``column`` (which must exist) or the first of :data:`FORMULA_COLUMNS`."""
    names = [str(c) for c in columns]
    if column is not None:
        if column not in names:
            raise InvalidInputError(source, f"has no column {column!r}; found {names}")
        return column
    found = next((c for c in FORMULA_COLUMNS if c in names), None)
    if found is None:
        raise InvalidInputError(source, f"needs a formula column ({', '.join(FORMULA_COLUMNS)}, or name it with "
                                        f"--column); found {names}")  # fmt: skip
    return found


def load_table(
    data: str | Path | pd.DataFrame, input_kind: str = "composition", *, target: bool | None = True,
    column: str | None = None,
) -> Table:
    """Read a ``formula,target`` CSV / DataFrame, or a structure file (with targets when it has them).

    Structure files are CIF, POSCAR, pymatgen JSON, or pandas
    ``to_json(orient="split")`` frames with a ``structure`` column (as
    Matbench ships them) and the target in the last other column (or a column
    named ``target``). ``target=None`` reads the target when the data has
    one; ``target=False`` never does.
    """
    if isinstance(data, pd.DataFrame):
        df, source = data, "<DataFrame>"
    else:
        source = str(data)
        if input_kind == "structure" or str(data).endswith(STRUCTURE_SUFFIXES):
            return _load_structure_table(Path(data), target)
        if _is_structure_file(Path(data)):
            raise InvalidInputError(source, "is a crystal structure file (CIF/POSCAR), but this is a composition "
                                            "model, which reads formulas: a CSV with a formula column, or formulas "
                                            f"as arguments. Structure models take such files, e.g. irnet predict "
                                            f"{STRUCTURE_MODEL} --input {Path(source).name}")
        df = read_csv(data)
    if input_kind == "structure":
        if "structure" not in df.columns:
            raise InvalidInputError(source, "a structure model needs a 'structure' column")
        inputs = list(df["structure"])
    else:
        inputs = list(df[formula_column(df.columns, source, column)])
    if target is None:
        target = "target" in df.columns
    targets = _targets(df, source, from_file=not isinstance(data, pd.DataFrame)) if target else None
    return Table(inputs, targets, source)


_STRUCTURE_FILE_SUFFIXES = (".cif", ".mcif", ".vasp", ".poscar", ".xsf", ".cssr")


def _is_structure_file(path: Path) -> bool:
    """A CIF or POSCAR by its name, or a CIF by its first line (``data_...``)."""
    name = path.name.lower()
    if name.endswith(_STRUCTURE_FILE_SUFFIXES) or name.startswith(("poscar", "contcar")):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(512).lstrip()
    except OSError:
        return False
    return head.startswith((b"data_", rb"#\#CIF"))


def read_inputs(paths: list[str | Path] | tuple[str | Path, ...], input_kind: str = "composition",
                column: str | None = None) -> list[Any]:
    """The inputs (no targets) of several files: formula CSVs (``column``, or the first of
    :data:`FORMULA_COLUMNS`), or structure files for structure models. ``-`` is standard input:
    one formula per line, or a CSV whose header names a formula column."""
    items: list[Any] = []
    for path in paths:
        if str(path) == "-":
            items.extend(_stdin_formulas(input_kind, column))
            continue
        items.extend(load_table(path, input_kind, target=False, column=column).inputs)
    return items


def _stdin_formulas(input_kind: str, column: str | None) -> list[str]:
    import io
    import sys

    if input_kind != "composition":
        raise InvalidInputError("-", "standard input carries formulas; give a structure model its structure files "
                                     "by path (--input FILE)")
    text = sys.stdin.read()
    if "\0" in text:
        raise InvalidInputError("<stdin>", "holds a NUL byte; it is not text")
    lines = [line.strip() for line in text.splitlines()]
    header = [c.strip() for c in lines[0].replace(";", ",").replace("\t", ",").split(",")] if lines else []
    if column is not None or any(c in FORMULA_COLUMNS for c in header):
        sep = "\t" if "\t" in (text.splitlines() or [""])[0] else ";" if ";" in lines[0] else ","
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], sep=sep)
        return list(df[formula_column(df.columns, "<stdin>", column)])
    formulas = [line for line in lines if line]  # one formula per line; blank lines are not rows
    if not formulas:
        raise InvalidInputError("<stdin>", "no formulas on standard input (one per line, or a CSV with a "
                                           "formula column)")
    return formulas


def _load_structure_table(path: Path, target: bool | None) -> Table:
    from irnet_hub.featurize.structure import load_structure_columns

    structures, columns = load_structure_columns(path)
    if target is None:
        target = bool(columns)
    targets, name = None, "target"
    if target:
        if not columns:
            raise InvalidInputError(str(path), "no target column next to 'structure'")
        name = "target" if "target" in columns else list(columns)[-1]
        targets = pd.to_numeric(pd.Series(columns[name]), errors="coerce").to_numpy(float)
        check_targets(targets, str(path))
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

    res = get_featurizer(featurizer).featurize(table.inputs, errors="skip", **kwargs)
    y = None if table.targets is None else table.targets[res.rows]
    return FeaturizedTable(res.features, y, [table.inputs[i] for i in res.rows], res.failures)
