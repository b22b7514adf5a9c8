"""The prediction table: one row per input, the same columns on every path.

:class:`~irnet_hub.predictor.Predictor` builds a :class:`PredictionTable`; the model server
sends it as V2 output tensors (:meth:`PredictionTable.to_v2`) and
:class:`~irnet_hub.serving.client.RemoteModel` rebuilds it (:meth:`PredictionTable.from_v2`); a
DLHub servable returns :meth:`PredictionTable.to_dlhub` records and ``run_remote`` rebuilds
them (:meth:`PredictionTable.from_dlhub`). Users see :meth:`PredictionTable.to_frame`, the
pandas DataFrame indexed by the input's own labels, so a local, a served and a DLHub
prediction of the same inputs give the same frame.

Columns: ``formula`` (as given), ``parsed_formula`` (the composition as read, so that a
misreading shows: ``CuSO4.5H2O`` -> ``CuSO9H10``), ``prediction`` (NaN for a skipped row), ``prediction_std`` (ensembles
of 3+ members, float32), ``unit``, ``model``, ``in_domain`` (nullable: None = unknown),
``rare_elements``, ``note`` (the output rule applied, why a row is out of domain, or
``skipped: <reason>``) and, for models that ship their training compositions
(:mod:`irnet_hub.training_set`), ``in_training`` (nullable) and ``training_value`` (NaN
when not in training). NumPy only; pandas is imported by :meth:`to_frame` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from irnet_hub.errors import RowFailure

# The frame's columns, in order (prediction_std only for ensembles of 3+ members).
FRAME_COLUMNS = ("formula", "parsed_formula", "prediction", "prediction_std", "unit", "model", "in_domain", "rare_elements", "note",
                 "in_training", "training_value")


@dataclass
class PredictionTable:
    """Predictions of ``n`` inputs, in input order; ``failures`` are the rows that could not be predicted
    (``row`` = position), whose ``prediction`` is NaN and ``note`` says ``skipped: <reason>``."""

    formula: list[str]
    prediction: np.ndarray  # float64
    in_domain: list[bool | None]
    rare_elements: list[str]
    note: list[str]
    unit: str
    model: str
    std: np.ndarray | None = None  # float32, ensembles of 3+ members
    failures: list[RowFailure] = field(default_factory=list)
    labels: Any = None  # the input's labels (a pandas Index or a sequence); None: positions, named "row"
    in_training: list[bool | None] | None = None  # models that ship training_set.npz
    training_value: np.ndarray | None = None  # float64, NaN where not in training
    parsed_formula: list[str] | None = None  # the composition as read ('' for a skipped row)

    def __post_init__(self) -> None:
        n = len(self.formula)
        self.prediction = np.asarray(self.prediction, dtype=np.float64)
        if self.std is not None:
            self.std = np.asarray(self.std, dtype=np.float32)
        if (self.in_training is None) != (self.training_value is None):
            raise ValueError("in_training and training_value come together")
        if self.training_value is not None:
            self.training_value = np.asarray(self.training_value, dtype=np.float64)
        lengths = {"prediction": len(self.prediction), "in_domain": len(self.in_domain),
                   "rare_elements": len(self.rare_elements), "note": len(self.note),
                   **({"prediction_std": len(self.std)} if self.std is not None else {}),
                   **({"in_training": len(self.in_training), "training_value": len(self.training_value)}
                      if self.in_training is not None else {}),
                   **({"parsed_formula": len(self.parsed_formula)} if self.parsed_formula is not None else {}),
                   **({"labels": len(self.labels)} if self.labels is not None else {})}  # fmt: skip
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise ValueError(f"a prediction table of {n} rows has columns of other lengths: {wrong}")

    def __len__(self) -> int:
        return len(self.formula)

    @property
    def error(self) -> list[str]:
        """Per row: '' when predicted, else why it was skipped."""
        out = [""] * len(self)
        for f in self.failures:
            out[f.row] = f.reason
        return out

    # -- assembling -------------------------------------------------------------------------

    @classmethod
    def assemble(cls, formulas: Sequence[str], rows: Sequence[int], part: "PredictionTable | None",
                 failures: Sequence[RowFailure], *, unit: str, model: str, with_std: bool,
                 with_training: bool = False, labels: Any = None) -> "PredictionTable":
        """A table of ``len(formulas)`` rows: ``part``'s rows placed at positions ``rows``, every other row
        skipped with its reason from ``failures`` (positions in the whole table). ``part``'s own
        failures must already be among ``failures``; its formulas replace ``formulas`` where it has one."""
        n = len(formulas)
        rows = np.asarray(rows, dtype=np.int64)
        formula = [str(f) for f in formulas]
        prediction = np.full(n, np.nan)
        std = np.full(n, np.nan, dtype=np.float32) if with_std else None
        in_domain: list[bool | None] = [None] * n
        rare = [""] * n
        note = [""] * n
        in_training: list[bool | None] | None = [None] * n if with_training else None
        training_value = np.full(n, np.nan) if with_training else None
        parsed = [""] * n if part is not None and part.parsed_formula is not None else None
        if part is not None and len(rows):
            if len(part) != len(rows):
                raise ValueError(f"{len(part)} predicted rows for {len(rows)} positions")
            prediction[rows] = part.prediction
            if std is not None and part.std is not None:
                std[rows] = part.std
            if training_value is not None and part.training_value is not None:
                training_value[rows] = part.training_value
                for j, i in enumerate(rows.tolist()):
                    in_training[i] = part.in_training[j]
            for j, i in enumerate(rows.tolist()):
                formula[i] = part.formula[j] or formula[i]
                if parsed is not None:
                    parsed[i] = part.parsed_formula[j]
                in_domain[i], rare[i], note[i] = part.in_domain[j], part.rare_elements[j], part.note[j]
        failures = sorted(failures, key=lambda f: f.row)
        for f in failures:
            prediction[f.row] = np.nan
            if std is not None:
                std[f.row] = np.nan
            in_domain[f.row], rare[f.row], note[f.row] = None, "", f"skipped: {f.reason}"
            if in_training is not None:
                in_training[f.row], training_value[f.row] = None, np.nan
        for f in failures:
            if parsed is not None:
                parsed[f.row] = ""
        return cls(formula, prediction, in_domain, rare, note, unit, model, std, list(failures), labels,
                   in_training, training_value, parsed)

    def rows(self, start: int, stop: int) -> "PredictionTable":
        """Rows ``start:stop`` as a table of their own (failures renumbered from 0)."""
        std = None if self.std is None else self.std[start:stop]
        labels = None if self.labels is None else self.labels[start:stop]
        failures = [RowFailure(f.row - start, f.input, f.reason) for f in self.failures if start <= f.row < stop]
        training = (None, None) if self.in_training is None else (self.in_training[start:stop],
                                                                   self.training_value[start:stop])
        return PredictionTable(self.formula[start:stop], self.prediction[start:stop], self.in_domain[start:stop],
                               self.rare_elements[start:stop], self.note[start:stop], self.unit, self.model, std,
                               failures, labels, *training,
                               None if self.parsed_formula is None else self.parsed_formula[start:stop])

    # -- what users see ---------------------------------------------------------------------

    def to_frame(self):
        """The DataFrame users see, indexed by the input's labels (list positions: an index named ``row``);
        the failures are also in ``frame.attrs["failures"]``."""
        import pandas as pd

        index = (pd.RangeIndex(len(self), name="row") if self.labels is None
                 else self.labels if isinstance(self.labels, pd.Index) else pd.Index(self.labels))  # fmt: skip
        columns: dict[str, Any] = {"formula": self.formula}
        if self.parsed_formula is not None:
            columns["parsed_formula"] = self.parsed_formula
        columns["prediction"] = self.prediction
        if self.std is not None:
            columns["prediction_std"] = self.std
        columns.update(unit=self.unit, model=self.model,
                       in_domain=pd.array(self.in_domain, dtype="boolean"),
                       rare_elements=self.rare_elements, note=self.note)
        if self.in_training is not None:
            columns.update(in_training=pd.array(self.in_training, dtype="boolean"), training_value=self.training_value)
        df = pd.DataFrame(columns, index=index)
        df.attrs["failures"] = list(self.failures)
        return df

    # -- the V2 protocol (irnet serve) ------------------------------------------------------

    def to_v2(self, text: Callable[[str], str] = str) -> dict[str, Any]:
        """The V2 output tensors (``serving.protocol.OUTPUTS``): name -> array of ``n`` values. ``in_domain``
        unknown is sent as False ("not known to be in domain"); ``text`` cleans each string (the server's
        ``safe_text``)."""
        std = self.std if self.std is not None else np.full(len(self), np.nan, dtype=np.float32)
        return {
            "prediction": self.prediction.astype(np.float32),
            "prediction_std": std,
            "in_domain": np.array([bool(x) for x in self.in_domain], dtype=bool),
            "rare_elements": np.array([text(x) for x in self.rare_elements], dtype=object),
            "note": np.array([text(x) for x in self.note], dtype=object),
            "formula": np.array([text(x) for x in self.formula], dtype=object),
            "parsed_formula": np.array([text(x) for x in (self.parsed_formula or [""] * len(self))], dtype=object),
            "error": np.array([text(x) for x in self.error], dtype=object),
            "in_training": np.array([bool(x) for x in (self.in_training or [False] * len(self))], dtype=bool),
            "training_value": (self.training_value if self.training_value is not None
                               else np.full(len(self), np.nan)).astype(np.float32),
        }

    @classmethod
    def from_v2(cls, outputs: Mapping[str, Sequence[Any]], items: Sequence[Any], formulas: Sequence[str], *,
                unit: str, model: str, with_std: bool, with_domain: bool, with_training: bool = False,
                labels: Any = None) -> "PredictionTable":
        """The table a server sent for ``items`` (shown as ``formulas``). Raises ``ValueError`` (its text
        starts with ``returned``) when the server answered for other rows than were sent, or sent a
        non-number or a non-finite value for a predicted row: nothing of that is passed on."""
        n = len(items)
        needed = (["prediction"] + ["prediction_std"] * with_std + ["in_domain"] * with_domain
                  + ["in_training", "training_value"] * with_training)
        for name in needed + [c for c in ("error", "rare_elements", "note") if outputs.get(c)]:
            if len(outputs.get(name) or []) != n:
                raise ValueError(f"returned {len(outputs.get(name) or [])} values of {name!r} for {n} inputs")
        error = [str(e) for e in (outputs.get("error") or [""] * n)]
        failures = [RowFailure(i, items[i], error[i]) for i in range(n) if error[i]]
        ok = [i for i in range(n) if not error[i]]
        prediction = np.full(n, np.nan)
        prediction[ok] = _numbers(outputs["prediction"], "prediction", ok)
        std = None
        if with_std:
            std = np.full(n, np.nan, dtype=np.float32)
            std[ok] = _numbers(outputs["prediction_std"], "prediction_std", ok)
        in_domain: list[bool | None] = [None] * n
        if with_domain:  # else unknown: the model recorded nothing to judge by
            for i in ok:
                in_domain[i] = bool(outputs["in_domain"][i])
        in_training: list[bool | None] | None = None
        training_value = None
        if with_training:  # a training value is a number or, where the composition is not in training, null
            in_training = [None if error[i] else bool(outputs["in_training"][i]) for i in range(n)]
            known = [i for i in ok if in_training[i]]
            training_value = np.full(n, np.nan)
            training_value[known] = _numbers(outputs["training_value"], "training_value", known)
        rare, notes = outputs.get("rare_elements") or [], outputs.get("note") or []
        parsed = outputs.get("parsed_formula") or None  # servers older than the column do not send it
        if parsed is not None and len(parsed) != n:
            raise ValueError(f"returned {len(parsed)} values of 'parsed_formula' for {n} inputs")
        return cls(list(formulas), prediction, in_domain,
                   [str(rare[i]) if i < len(rare) and not error[i] else "" for i in range(n)],
                   [f"skipped: {error[i]}" if error[i] else (str(notes[i]) if i < len(notes) else "")
                    for i in range(n)],
                   unit, model, std, failures, labels, in_training, training_value,
                   None if parsed is None else ["" if error[i] else str(parsed[i]) for i in range(n)])

    # -- DLHub ------------------------------------------------------------------------------

    def to_dlhub(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row (a DLHub servable's answer): ``formula``, ``prediction`` (None when
        skipped), ``prediction_std`` (ensembles), ``unit``, ``in_domain``, ``rare_elements``, ``note``."""
        out = []
        for i in range(len(self)):
            p = float(self.prediction[i])
            row: dict[str, Any] = {"formula": self.formula[i],
                                   **({"parsed_formula": self.parsed_formula[i]} if self.parsed_formula else {}),
                                   "prediction": p if np.isfinite(p) else None,
                                   "unit": self.unit, "in_domain": self.in_domain[i],
                                   "rare_elements": self.rare_elements[i], "note": self.note[i]}
            if self.std is not None:  # float32 exactly, as a JSON number
                s = float(self.std[i])
                row["prediction_std"] = s if np.isfinite(s) else None
            if self.in_training is not None:
                v = float(self.training_value[i])
                row.update(in_training=self.in_training[i], training_value=v if np.isfinite(v) else None)
            out.append(row)
        return out

    @classmethod
    def from_dlhub(cls, records: Sequence[Mapping[str, Any]], *, model: str) -> "PredictionTable":
        """The table of a servable's :meth:`to_dlhub` answer (servables published before ``note`` and
        ``rare_elements`` were sent give '' there). Raises ``ValueError`` naming a row without a number."""
        rows = range(len(records))
        prediction = _numbers([r.get("prediction") for r in records], "prediction", list(rows))
        std = None
        if any("prediction_std" in r for r in records):
            std = np.array([np.nan if r.get("prediction_std") is None else r["prediction_std"] for r in records],
                           dtype=np.float32)
        in_training, training_value = None, None
        if any("in_training" in r for r in records):
            in_training = [None if r.get("in_training") is None else bool(r["in_training"]) for r in records]
            training_value = np.array([np.nan if r.get("training_value") is None else float(r["training_value"])
                                       for r in records])
        unit = str(records[0].get("unit", "")) if records else ""
        return cls([str(r.get("formula", "")) for r in records], prediction,
                   [None if r.get("in_domain") is None else bool(r["in_domain"]) for r in records],
                   [str(r.get("rare_elements") or "") for r in records], [str(r.get("note") or "") for r in records],
                   unit, model, std, in_training=in_training, training_value=training_value,
                   parsed_formula=[str(r.get("parsed_formula", "")) for r in records]
                   if any("parsed_formula" in r for r in records) else None)


def _numbers(values: Sequence[Any], name: str, rows: Sequence[int]) -> np.ndarray:
    """float64 of ``values`` at ``rows``: finite numbers, or ``ValueError``."""
    picked = [values[i] for i in rows]  # None (JSON null) is NaN, refused below as non-finite
    if any(isinstance(v, (bool, str, bytes)) for v in picked):
        bad = next(v for v in picked if isinstance(v, (bool, str, bytes)))
        raise ValueError(f"returned a non-number for {name!r} ({bad!r})")
    try:
        out = np.asarray(picked, dtype=np.float32).astype(np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in picked if not isinstance(v, (int, float)))
        raise ValueError(f"returned a non-number for {name!r} ({bad!r})") from None
    bad_rows = [r for r, v in zip(rows, out) if not np.isfinite(v)]
    if bad_rows:
        raise ValueError(f"returned non-finite {name!r} (NaN or infinite) for rows "
                         f"{', '.join(map(str, bad_rows[:5]))}{' ...' if len(bad_rows) > 5 else ''}; "
                         "nothing is passed on as a prediction")  # fmt: skip
    return out


__all__ = ["PredictionTable", "FRAME_COLUMNS"]
