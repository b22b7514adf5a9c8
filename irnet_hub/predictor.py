"""The model object: :class:`Predictor` wraps a model directory and predicts tables.

It featurizes inputs (formulas, pymatgen Compositions or Structures), fills
missing features with the training mean, runs the NumPy network
(:mod:`irnet_hub.runtime`) in batches and flags inputs outside the training
domain. For an ensemble (network output 1 + k columns) the prediction is the
members' mean and, for k >= 3, ``prediction_std`` is the members' standard
deviation times the ``std_scale`` fitted on validation data.
"""

from __future__ import annotations

import functools
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

import numpy as np

from irnet_hub.constants import MIN_ELEMENT_COUNT
from irnet_hub.errors import BatchInputError, InvalidInputError, RowFailure, UnsupportedModelError
from irnet_hub.domain import DomainRule
from irnet_hub.prediction_table import PredictionTable
from irnet_hub.training_set import TrainingSet
from irnet_hub.preprocessing import fill_missing, formula_of, parsed_formula
from irnet_hub.record import INFO_FILE, ModelRecord, as_record
from irnet_hub.runtime import DEFAULT_BATCH_SIZE, NumpyNetwork

if TYPE_CHECKING:
    import pandas as pd

# An element seen in fewer training compositions than this makes a prediction out of domain.
DEFAULT_MIN_ELEMENT_COUNT = MIN_ELEMENT_COUNT
# Inputs at or above this many rows get a progress bar by default.
PROGRESS_MIN_ROWS = 20_000
# Structure models show a bar per structure for this many structures, or for any cell this large.
PROGRESS_MIN_STRUCTURES = 10
LARGE_CELL_SITES = 64
# Ensembles of at least this many members report a prediction_std column.
MIN_MEMBERS_FOR_STD = 3


@dataclass
class PredictionResult:
    """Predictions and the inputs that could not be predicted.

    ``predictions``: the DataFrame :meth:`Predictor.predict` returns (index =
    the input's labels; every input row, a skipped one with NaN and the reason
    in ``note``). ``failures``: one :class:`~irnet_hub.errors.RowFailure` (row
    = position, input, reason) per invalid input, in input order.
    """

    predictions: "pd.DataFrame"
    failures: list[RowFailure] = field(default_factory=list)

    def __len__(self) -> int:
        """The number of rows predicted (skipped rows not counted)."""
        return len(self.predictions) - len(self.failures)

    @property
    def predicted(self) -> "pd.DataFrame":
        """Only the rows that were predicted (skipped rows dropped), labels kept."""
        import numpy as np

        keep = np.ones(len(self.predictions), dtype=bool)
        keep[[f.row for f in self.failures]] = False
        return self.predictions[keep]

    @property
    def ok(self) -> bool:
        """Whether every input was predicted."""
        return not self.failures


class Predictor:
    """A trained irnet-hub model, ready to predict: ``irnet_hub.load(...)`` returns one.

    ``predict(inputs)`` takes formula strings, pymatgen ``Composition`` objects,
    ``Structure`` objects (for structure models, or for composition models via
    their composition), a pandas Series of those, or a DataFrame with a
    ``formula`` (or ``structure``) column, and returns a DataFrame with one
    row per input: ``formula``, ``prediction``, (for ensembles of 3 or more
    members) ``prediction_std``, ``unit``, ``model``, ``in_domain`` and
    ``rare_elements``.
    """

    def __init__(self, model_dir: str | Path, network: NumpyNetwork, info: ModelRecord | Mapping[str, Any], *,
                 name: str | None = None, min_element_count: int = DEFAULT_MIN_ELEMENT_COUNT):
        self.path = Path(model_dir)
        self.network = network
        self.record = as_record(info, str(self.path / INFO_FILE)).require("scaler", source=str(self.path))
        record = self.record
        self.name = name or record.name or self.path.name
        # The in-domain rule (irnet_hub.domain): elements, stoichiometry and the features' training range.
        self.domain = DomainRule.for_record(record, min_element_count)
        self.featurizer: str = record.featurizer.name
        self.input_kind: str = record.featurizer.input_kind
        self.unit: str = record.target.unit
        self.property: str = record.target.name
        self._feature_mean = np.asarray(record.scaler.feature_mean, dtype=np.float32)
        self.std_scale: float = float(record.std_scale)
        # Extra keyword arguments for the featurizer, e.g. the model server's
        # {"use_cache": False, "n_jobs": 1} for structures sent by clients.
        self.featurize_options: dict[str, Any] = {}
        if network.n_features != len(self._feature_mean):
            raise UnsupportedModelError(str(model_dir), f"network takes {network.n_features} features but irnet.json "
                                        f"lists {len(self._feature_mean)}")

    @classmethod
    def from_dir(cls, model_dir: str | Path, *, name: str | None = None, verify: bool = True,
                 hashes_checked: bool = False) -> "Predictor":
        """Load a model directory, checked by :func:`irnet_hub.integrity.check_model_dir` (manifest listing
        every needed file, sha256, finite weights) unless ``verify=False`` (a warning then says so);
        ``hashes_checked``: the caller compared the files with pinned sha256 just before (a pull)."""
        from irnet_hub import artifact
        from irnet_hub.integrity import check_model_dir

        path = check_model_dir(model_dir, verify=verify, hashes_checked=hashes_checked)
        record = artifact.read_record(path).require("scaler", "featurizer", "target", source=str(path))
        return cls(path, NumpyNetwork.from_dir(path), record, name=name)

    @property
    def metadata(self) -> dict[str, Any]:
        """The model's ``irnet.json`` contents as a plain dict (:attr:`record` is the typed form)."""
        return self.record.to_dict()

    @property
    def card(self) -> str:
        """The model card (``README.md``), or ``''`` when the model has none (a ``str`` that Jupyter renders)."""
        from irnet_hub.notebook import ModelCardText

        p = self.path / "README.md"
        return ModelCardText(p.read_text(encoding="utf-8") if p.is_file() else "")

    def keras_model(self):
        """The network as a Keras model (imports Keras; loaded with ``safe_mode=True``, no custom objects)."""
        from irnet_hub import artifact

        return artifact.load_keras_model(self.path)

    def __repr__(self) -> str:
        return f"Predictor({self.name!r}, property={self.property!r}, unit={self.unit!r}, path='{self.path}')"

    def _repr_html_(self) -> str:
        from irnet_hub.notebook import predictor_html

        return predictor_html(self)

    # -- prediction -----------------------------------------------------------------------

    def predict_outputs(self, X: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """All network outputs for raw feature rows, float32 (n, 1) or (n, 1 + k) for an ensemble.

        NaN features are replaced by the training mean first. Non-finite outputs raise
        :class:`~irnet_hub.errors.IntegrityError`: they are never passed on (as null or NaN).
        """
        from irnet_hub.output_rules import check_finite

        _check_batch_size(batch_size)
        out = self.network(fill_missing(X, self._feature_mean), batch_size=batch_size)
        check_finite(out, self.name)
        return out

    @functools.cached_property
    def training_set(self) -> TrainingSet | None:
        """The model's training compositions and values (``training_set.npz``), or None when it ships none:
        they give the ``in_training`` and ``training_value`` columns."""
        return TrainingSet.load(self.path)

    @property
    def min_element_count(self) -> int:
        """An element seen in fewer training compositions than this makes a prediction out of domain."""
        return self.domain.min_count

    @property
    def output_rules(self):
        """The :class:`~irnet_hub.output_rules.AppliedRules` this model's predictions obey (its record's ``output_rules``)."""
        from irnet_hub.output_rules import rules_for

        return rules_for(self.record)

    def predict_features(self, X: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Predictions (column 0: the ensemble mean for an ensemble) for raw feature rows."""
        return self.predict_outputs(X, batch_size=batch_size)[:, 0]

    def predict_features_with_rules(self, X: np.ndarray, n_elements: np.ndarray,
                                    batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """The values :meth:`predict` gives (output rules applied: an element's exact 0, no negative value
        where the property cannot be negative) for raw feature rows of compositions with ``n_elements``
        distinct elements each: for callers that featurize themselves (screening)."""
        from irnet_hub.output_rules import apply_rules

        pred, _, _ = apply_rules(self.predict_features(X, batch_size=batch_size), np.asarray(n_elements),
                                 self.output_rules, property_name=self.property)
        return pred

    def _std(self, outputs: np.ndarray) -> np.ndarray | None:
        """Members' standard deviation times ``std_scale`` (float32), for ensembles of 3+ members."""
        k = outputs.shape[1] - 1
        if k < MIN_MEMBERS_FOR_STD:
            return None
        return (np.std(outputs[:, 1:], axis=1) * np.float32(self.std_scale)).astype(np.float32)

    def predict(
        self,
        inputs: Any,
        *,
        errors: Literal["raise", "skip"] = "raise",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        column: str | None = None,
    ):
        """Predict the property for each input; returns a pandas DataFrame.

        The result's index is the input's: a Series' or DataFrame's index, a
        list's positions (named ``row``), so ``df["pred"] = model.predict(df)["prediction"]``
        lines up row by row. A DataFrame's formulas are read from ``column``, or else from the
        first of ``formula``, ``composition`` (matminer's ``StrToComposition``) and
        ``formula_pretty`` (the Materials Project's) it has. ``errors="raise"`` (default): any invalid input
        raises :class:`~irnet_hub.errors.BatchInputError` naming each one and
        why, and nothing is predicted. ``errors="skip"``: invalid rows keep
        their label with a NaN prediction and the reason in ``note``; they are
        also listed in ``frame.attrs["failures"]`` and, with
        :meth:`predict_result`, in ``result.failures`` (a list of
        :class:`~irnet_hub.errors.RowFailure`, ``row`` = position).

        Columns: ``formula`` (as given), ``parsed_formula`` (the composition as
        read: ``CuSO4.5H2O`` -> ``CuSO9H10``), ``prediction``, ``prediction_std`` (ensembles of
        3 or more members: std of the members x ``std_scale``, float32),
        ``unit``, ``model``, ``in_domain``, ``rare_elements`` and ``note``
        (why a value was fixed by an output rule, why a row is out of domain
        or skipped); for models that ship their training compositions,
        ``in_training`` (the exact composition, by element fractions, is a
        training row) and ``training_value`` (its training target, else NaN),
        so a memorized DFT number is told from a prediction. Output rules (:mod:`irnet_hub.output_rules`): a
        formation-energy model gives exactly 0 (std 0) for an element; a
        non-negative property is never below 0. ``progress=None`` shows a
        progress bar for inputs of :data:`PROGRESS_MIN_ROWS` rows or more.
        """
        return self.predict_result(inputs, errors=errors, batch_size=batch_size, progress=progress,
                                   column=column).predictions

    def predict_result(
        self,
        inputs: Any,
        *,
        errors: Literal["raise", "skip"] = "skip",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        column: str | None = None,
    ) -> PredictionResult:
        """Like :meth:`predict`, but returns a :class:`PredictionResult`: the predictions (every input
        row, skipped ones with NaN and the reason in ``note``) and the failures.

        Defaults to ``errors="skip"``: invalid inputs are listed in
        ``result.failures`` (their row, input and reason) instead of raising.
        """
        table = self.predict_table(inputs, errors=errors, batch_size=batch_size, progress=progress, column=column)
        return PredictionResult(table.to_frame(), table.failures)

    def predict_table(
        self,
        inputs: Any,
        *,
        errors: Literal["raise", "skip"] = "skip",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        column: str | None = None,
    ) -> PredictionTable:
        """The :class:`~irnet_hub.prediction_table.PredictionTable` behind :meth:`predict_result` (what the
        model server and a DLHub servable send on): every input row, labels kept."""
        from irnet_hub.output_rules import apply_rules

        if errors not in ("raise", "skip"):
            raise InvalidInputError(errors, "errors must be 'raise' or 'skip'")
        _check_batch_size(batch_size)
        labels, items = self._as_items(inputs, column)
        n = len(items)
        show = (n >= PROGRESS_MIN_ROWS) if progress is None else bool(progress)
        structure_bar = False
        if self.input_kind == "structure":
            # Voronoi featurization takes ~0.3 s for an 8-site cell and minutes for 200+ sites: a bar per
            # structure (with its elapsed time) for more than a few structures or any large cell.
            large = any(len(x) >= LARGE_CELL_SITES for x in items if _is_structure(x))
            structure_bar = (n >= PROGRESS_MIN_STRUCTURES or large) if progress is None else bool(progress)
            show = False
        featurize = self._featurize_fn(progress=structure_bar)

        rows_out: list[np.ndarray] = []
        preds_out: list[np.ndarray] = []
        range_notes: list[str] = []
        failures: list[RowFailure] = []
        from tqdm.auto import tqdm

        with tqdm(total=n, disable=not show, unit="row", desc=f"predicting {self.name}", leave=False) as bar:
            for start in range(0, n, batch_size):
                chunk = items[start : start + batch_size]
                res = featurize(chunk)
                failures.extend(RowFailure(f.row + start, f.input, f.reason) for f in res.failures)
                if errors == "raise" and failures:
                    # Keep going through the featurizer only to name every bad input at once.
                    bar.update(len(chunk))
                    continue
                if len(res.rows):
                    rows_out.append(np.asarray(res.rows, dtype=np.int64) + start)
                    preds_out.append(self.predict_outputs(res.features, batch_size=batch_size))
                    range_notes.extend(self.domain.feature_notes(res.features))
                bar.update(len(chunk))
        if failures and errors == "raise":
            raise BatchInputError(failures)

        rows = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
        outputs = np.concatenate(preds_out) if preds_out else np.zeros((0, self.network.n_outputs), np.float32)
        kept = [items[i] for i in rows]
        dom = self.domain.report(kept)
        pred, std, rule_notes = apply_rules(outputs[:, 0].astype(np.float64), np.asarray(dom["n_elements"]),
                                            self.output_rules, std=self._std(outputs), property_name=self.property)
        # The range rule and the saturated-ensemble rule (irnet_hub.domain); an output rule's exact value
        # (an element's 0) is not the network's, so neither applies to it.
        exact = np.array([t.startswith("element") for t in rule_notes], dtype=bool)
        std = self.domain.network_checks(dom, range_notes, std, exact)
        notes = ["; ".join(t for t in (rule_notes[j], dom["note"][j]) if t) for j in range(len(rows))]
        training = self.training_set.lookup(kept) if self.training_set is not None else (None, None)
        shown = [formula_of(x) for x in items]  # once per row; the predicted rows take theirs from it
        predicted = PredictionTable([shown[i] for i in rows], pred, dom["in_domain"], dom["rare"], notes,
                                    self.unit, self.name, std, in_training=training[0], training_value=training[1],
                                    parsed_formula=[parsed_formula(x) for x in kept])
        # Every input row, in input order, under its own label; skipped rows hold NaN and the reason.
        return PredictionTable.assemble(shown, rows, predicted, failures, unit=self.unit,
                                        model=self.name, with_std=std is not None,
                                        with_training=self.training_set is not None, labels=labels)

    def _featurize_fn(self, progress: bool = False):
        from irnet_hub.featurize import get_featurizer

        feat = get_featurizer(self.featurizer)
        spec = feat.spec
        trained = str(self.record.featurizer.version)
        if trained != spec.version:
            warnings.warn(f"{self.name} was trained with {spec.name} version {trained}; this irnet-hub has "
                          f"version {spec.version}, so its features may differ", stacklevel=3)
        if spec.n_features != self.network.n_features:
            raise UnsupportedModelError(self.name, f"featurizer {spec.name} gives {spec.n_features} features but the "
                                        f"network takes {self.network.n_features}")
        options = dict(self.featurize_options)
        return lambda chunk: feat.featurize(chunk, errors="skip", progress=progress, **options)

    def _as_items(self, inputs: Any, column: str | None = None):
        """(labels, items): the accepted input forms as a list, and the index the result keeps."""
        import pandas as pd

        from irnet_hub.tables import formula_column  # here: importing the predictor stays free of pandas

        labels = None
        if isinstance(inputs, pd.DataFrame):
            if column is None and self.input_kind == "structure" and "structure" in inputs.columns:
                column = "structure"
            values = list(inputs[formula_column(inputs.columns, "<DataFrame>", column)])
            labels = inputs.index
        elif isinstance(inputs, pd.Series):
            values, labels = list(inputs), inputs.index
        elif isinstance(inputs, str) or _is_structure(inputs) or _is_composition(inputs):
            values = [inputs]
        elif isinstance(inputs, np.ndarray):
            if inputs.ndim == 0:  # np.array("NaCl"): one formula
                values = [inputs.item()]
            elif inputs.ndim == 1:
                values = inputs.tolist()
            else:
                raise InvalidInputError(f"array of shape {inputs.shape}", "expected a 1-d array of formulas")
        elif isinstance(inputs, (bytes, Mapping)) or not isinstance(inputs, Iterable):
            raise InvalidInputError(inputs, "expected formulas, Compositions or Structures (a list, Series or DataFrame)")
        else:  # list, tuple, generator
            values = list(inputs)
        if self.input_kind == "composition":
            # A composition model predicts a Structure from its composition.
            values = [v.composition if _is_structure(v) else v for v in values]
        if labels is None:
            labels = pd.RangeIndex(len(values), name="row")
        return labels, values


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidInputError(batch_size, "batch_size must be a positive integer (rows per forward pass)")


def _is_structure(x: Any) -> bool:
    # pymatgen is only imported by the caller who made the object: no import cost here.
    if "pymatgen.core" not in sys.modules:
        return False
    from pymatgen.core import IStructure

    return isinstance(x, IStructure)


def _is_composition(x: Any) -> bool:
    if "pymatgen.core" not in sys.modules:
        return False
    from pymatgen.core import Composition

    return isinstance(x, Composition)


def load_dir(model_dir: str | Path, *, name: str | None = None, verify: bool = True) -> Predictor:
    """Load a model directory as a :class:`Predictor` (NumPy inference, no TensorFlow)."""
    return Predictor.from_dir(model_dir, name=name, verify=verify)


__all__ = ["Predictor", "PredictionResult", "load_dir", "DEFAULT_MIN_ELEMENT_COUNT", "PROGRESS_MIN_ROWS"]
