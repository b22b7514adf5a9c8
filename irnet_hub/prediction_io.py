"""Prediction input and output for the CLI: reading formula/structure files, writing predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np


def read_inputs(paths: Sequence[str | Path], input_kind: str = "composition", column: str | None = None) -> list[Any]:
    """Inputs from files: CSVs with a ``formula`` column, or structure files for structure models.

    Formulas are read as text (``NaN``, sodium nitride, stays a formula; an
    empty cell is reported as an empty formula). Structure files are CIF,
    POSCAR/CONTCAR, pymatgen JSON or a Matbench-style frame. Both go through
    the one table reader, :func:`irnet_hub.tables.read_inputs`.
    """
    from irnet_hub.tables import read_inputs as _read

    return _read(list(paths), input_kind, column)


def prediction_records(df) -> list[dict[str, Any]]:
    """A prediction frame as JSON-ready dicts (``row`` first; unknown ``in_domain`` as None)."""
    import pandas as pd

    out = []
    cols = list(df.columns)
    for row, values in zip(df.index.tolist(), df.itertuples(index=False, name=None)):
        rec: dict[str, Any] = {"row": row if isinstance(row, (int, str)) else str(row)}
        for c, v in zip(cols, values):
            if c == "in_domain":
                v = None if v is None or v is pd.NA else bool(v)
            elif isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not np.isfinite(v):
                v = None  # strict JSON has no NaN/inf; only skipped rows (note says why) lack a value
            rec[c] = v
        out.append(rec)
    return out


def format_predictions(df, fmt: Literal["json", "csv", "table"]) -> str:
    """Text of a prediction frame as a JSON list, CSV (with ``row``) or an aligned table."""
    if fmt == "json":
        return json.dumps(prediction_records(df), allow_nan=False, default=str) if len(df) else "[]"
    if fmt == "csv":
        return df.to_csv(index=True, index_label="row")
    return df.to_string(index=False) if len(df) else "(no predictions)"


def write_predictions(df, path: str | Path, fmt: Literal["json", "csv", "table"] | None = None, *,
                      force: bool = False) -> Path:
    """Write predictions with :mod:`irnet_hub.files`: atomically beside the real target (a symlink is
    followed), never a half-written file; a device or read-only file is refused without ``force``.

    ``fmt`` defaults to JSON for ``*.json`` and CSV otherwise.
    """
    from irnet_hub.files import atomic_write

    out = Path(path)
    fmt = fmt or ("json" if out.suffix.lower() == ".json" else "csv")
    text = format_predictions(df, fmt)
    atomic_write(out, text if text.endswith("\n") else text + "\n", force=force)
    return out


def strict_json(obj: Any) -> str:
    """``obj`` as strict JSON (RFC 8259): a non-finite number becomes null, never a NaN/Infinity token."""
    return json.dumps(_finite_or_none(obj), indent=None, default=str, allow_nan=False)


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite_or_none(obj.item())
    return obj


def write_frame(df, output: str | Path, *, force: bool = False) -> None:
    """A feature table to .parquet or CSV, atomically beside the real target (:mod:`irnet_hub.files`)."""
    from irnet_hub.files import atomic_path

    out = Path(output)
    with atomic_path(out, force=force) as tmp:
        if out.suffix == ".parquet":
            df.to_parquet(tmp)
        else:
            df.to_csv(tmp, index=False)


__all__ = ["read_inputs", "prediction_records", "format_predictions", "write_predictions", "strict_json",
           "write_frame"]
