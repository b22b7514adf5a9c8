"""The typed record of a model directory: ``irnet.json`` as one dataclass.

Like timm's ``PretrainedCfg``, :class:`ModelRecord` is the one place that
knows the keys of ``irnet.json``, their types and their defaults. Reading
(:meth:`ModelRecord.read`) checks ``schema_version``: a newer schema than this
irnet-hub knows is refused with :class:`~irnet_hub.errors.UnsupportedModelError`,
older ones are migrated in memory (files are never rewritten on read). Keys the
record does not know are kept in ``extras`` (on the record and on each part)
and written back unchanged, so a record read and written again loses nothing.

Schema history:

* 1: the first format (also the shipped servables). ``target_rule`` was free
  text ("MAE <= 0.70 x RandomForest on the same split").
* 2: adds ``ensemble_size``, ``std_scale``, ``output_rules``,
  ``composition_ranges`` and the numeric ``target_rf_ratio`` that replaces
  parsing ``target_rule``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping

from irnet_hub.constants import DEFAULT_FEATURIZER
from irnet_hub.errors import InvalidInputError, UnsupportedModelError

SCHEMA_VERSION = 2
INFO_FILE = "irnet.json"
# Written by train() when a table was given as a DataFrame instead of a file.
IN_MEMORY_TABLE = "<DataFrame>"


def _plain(value: Any) -> Any:
    """JSON-ready copy: parts to dicts, NumPy scalars/arrays to Python, Paths to text."""
    if isinstance(value, RecordSection):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return value.tolist()
    return value


@dataclass
class RecordSection:
    """A mapping section of ``irnet.json``: known keys as typed fields, the rest in ``extras``."""

    # Sub-sections parsed into their own part types.
    _nested: ClassVar[dict[str, type["RecordSection"]]] = {}
    # Fields written even when None (the format has always carried them).
    _keep_none: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str = INFO_FILE):
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise InvalidInputError(source, f"{cls.__name__} section must be a JSON object, found {type(d).__name__}")
        known = {f.name for f in fields(cls)} - {"extras"}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key not in known:
                continue
            part = cls._nested.get(key)
            kwargs[key] = part.from_dict(value, source) if part is not None and value is not None else value
        extras = {k: v for k, v in d.items() if k not in known}
        try:
            return cls(**kwargs, extras=extras)
        except TypeError as e:
            raise InvalidInputError(source, f"malformed {cls.__name__}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extras":
                continue
            value = getattr(self, f.name)
            if value is None and f.name not in self._keep_none:
                continue
            out[f.name] = _plain(value)
        out.update(_plain(self.extras))
        return out


@dataclass
class FeaturizerInfo(RecordSection):
    name: str = DEFAULT_FEATURIZER
    version: str = "1"
    input_kind: str = "composition"
    n_features: int | None = None
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scaler(RecordSection):
    feature_mean: list[float] = field(default_factory=list)
    feature_std: list[float] = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0
    missing_values: str = "replaced by feature_mean before the network"
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target(RecordSection):
    name: str = "target"
    unit: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataInfo(RecordSection):
    """Where the training data came from and how it was split."""

    _keep_none = frozenset({"dataset", "test"})
    dataset: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    # {"kind": "given"|"random", ...} from train(), or a recipe's text description
    split: dict[str, Any] | str | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    skipped_rows: list[str] = field(default_factory=list)
    n_skipped: int = 0
    # The one file the rows were taken from when the split was made by a recipe
    # (``all`` for a formula CSV, ``structures`` for a structures file).
    all: str | None = None
    structures: str | None = None
    fold: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str | None:
        """The data file the model was trained from, when one is recorded."""
        for value in (self.train, self.all, self.structures):
            if value and value != IN_MEMORY_TABLE:
                return value
        return None


@dataclass
class Hyperparameters(RecordSection):
    optimizer: str | None = None
    loss: str | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    epochs_max: int | None = None
    epochs_run: int | None = None
    early_stopping_patience: int | None = None
    restore_best_weights: bool | None = None
    weight_decay: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingRun(RecordSection):
    device: str | None = None
    wall_seconds: float | None = None
    samples_per_second: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Baseline(RecordSection):
    """The RandomForest reference fitted on the same features and split."""

    model: str = "RandomForestRegressor"
    params: dict[str, Any] = field(default_factory=dict)
    val: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class WeightsPrecision(RecordSection):
    """The effect of storing weights in a lower precision (recorded as ``float16``)."""

    split: str = "test"
    mae_float32: float | None = None
    mae_float16: float | None = None
    relative_change: float | None = None
    kept: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class CrossValidation(RecordSection):
    folds: int = 5
    folds_done: list[int] = field(default_factory=list)
    test_mae_per_fold: list[float] = field(default_factory=list)
    test_mae_mean: float | None = None
    test_mae_std: float | None = None
    rf_test_mae_per_fold: list[float] = field(default_factory=list)
    rf_test_mae_mean: float | None = None
    shipped: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputRules(RecordSection):
    """Rules applied to predictions (see issue 11): zero for pure elements, clip at zero."""

    elements_are_zero: bool = False
    non_negative: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompositionRanges(RecordSection):
    """The range of compositions seen in training, for domain checks."""

    max_atoms_per_formula_unit: float | None = None
    min_fraction: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelRecord(RecordSection):
    """``irnet.json``: everything about a model directory except the network itself."""

    _nested = {
        "featurizer": FeaturizerInfo,
        "scaler": Scaler,
        "target": Target,
        "data": DataInfo,
        "hyperparameters": Hyperparameters,
        "training": TrainingRun,
        "baseline": Baseline,
        "float16": WeightsPrecision,
        "cv": CrossValidation,
        "output_rules": OutputRules,
        "composition_ranges": CompositionRanges,
    }
    schema_version: int = SCHEMA_VERSION
    name: str | None = None
    architecture: str = ""
    n_parameters: int | None = None
    featurizer: FeaturizerInfo = field(default_factory=FeaturizerInfo)
    scaler: Scaler | None = None
    target: Target = field(default_factory=Target)
    data: DataInfo = field(default_factory=DataInfo)
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    seed: int | None = None
    training_seconds: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # split ("val", "test", "test_float32", ...) -> regression metrics (mae, rmse, r2, n, ...)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # element symbol -> number of training compositions containing it (empty for structure models)
    element_counts: dict[str, int] = field(default_factory=dict)
    created: str | None = None
    training: TrainingRun | None = None
    baseline: Baseline | None = None
    # published model -> its test MAE (a number, or {"mae": ..., "note": ...})
    anchors: dict[str, Any] = field(default_factory=dict)
    target_mae: float | None = None
    # accuracy target "MAE <= target_rf_ratio x RandomForest on the same split"
    target_rf_ratio: float | None = None
    target_rule: str | None = None
    float16: WeightsPrecision | None = None
    weights_dtype: str | None = None
    cv: CrossValidation | None = None
    notes: str | None = None
    # ensembles (issue 9): k members; network output (n, 1 + k)
    ensemble_size: int = 1
    std_scale: float = 1.0
    output_rules: OutputRules = field(default_factory=OutputRules)
    composition_ranges: CompositionRanges | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    # -- reading and writing -------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str = INFO_FILE) -> "ModelRecord":
        """A record from ``irnet.json`` contents: schema checked, older schemas migrated."""
        if not isinstance(d, Mapping):
            raise InvalidInputError(source, "irnet.json must hold a JSON object")
        version = d.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise UnsupportedModelError(source, f"irnet.json has an invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise UnsupportedModelError(
                source, f"irnet.json has schema_version {version}, newer than the {SCHEMA_VERSION} this irnet-hub "
                "reads; upgrade irnet-hub (pip install -U irnet-hub)"
            )
        record = super().from_dict(_migrate(dict(d)), source)
        record._present = frozenset(d)
        if record.ensemble_size < 1:
            raise InvalidInputError(source, f"ensemble_size must be at least 1, found {record.ensemble_size}")
        return record

    @classmethod
    def read(cls, model_dir: str | Path) -> "ModelRecord":
        """Read ``MODEL_DIR/irnet.json``."""
        path = Path(model_dir) / INFO_FILE
        if not path.is_file():
            raise InvalidInputError(str(model_dir), f"not an irnet-hub model directory (no {INFO_FILE})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidInputError(str(path), f"corrupt model metadata ({e})") from None
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict[str, Any]:
        """``irnet.json`` contents, ``schema_version`` first."""
        out = super().to_dict()
        out["schema_version"] = SCHEMA_VERSION
        return {"schema_version": SCHEMA_VERSION, **out}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def write(self, model_dir: str | Path) -> Path:
        """Write ``MODEL_DIR/irnet.json`` atomically (the manifest is the caller's concern)."""
        from irnet_hub.files import atomic_write

        return atomic_write(Path(model_dir) / INFO_FILE, self.to_json())

    # -- convenience ---------------------------------------------------------------------

    def has(self, key: str) -> bool:
        """Whether the ``irnet.json`` this record was read from set ``key`` (True for new records)."""
        present = getattr(self, "_present", None)
        return True if present is None else key in present

    def require(self, *keys: str, source: str = INFO_FILE) -> "ModelRecord":
        """Raise :class:`InvalidInputError` naming the first of ``keys`` the file did not set."""
        for key in keys:
            if not self.has(key) or getattr(self, key, None) is None:
                raise InvalidInputError(source, f"irnet.json lacks {key!r}")
        return self

    @property
    def display_name(self) -> str:
        return self.name or "model"

    @property
    def input_kind(self) -> str:
        return self.featurizer.input_kind

    @property
    def unit(self) -> str:
        return self.target.unit

    @property
    def property(self) -> str:
        return self.target.name

    def score(self, split: str | None = None) -> tuple[str, dict[str, Any]]:
        """(split, metrics) for ``split``, else the test split when scored on one, else validation."""
        if split is not None:
            return split, dict(self.metrics.get(split) or {})
        if self.metrics.get("test"):
            return "test", dict(self.metrics["test"])
        return "val", dict(self.metrics.get("val") or {})


_RF_RULE = re.compile(r"MAE\s*<=\s*([0-9.]+)\s*x\s*RandomForest")


def _migrate(d: dict[str, Any]) -> dict[str, Any]:
    """Bring schema-1 contents to the current schema (in memory only)."""
    if d.get("schema_version", 1) < 2:
        # The accuracy target was text; the card used to look for "0.70" inside it.
        rule = d.get("target_rule")
        if isinstance(rule, str) and "target_rf_ratio" not in d:
            m = _RF_RULE.search(rule)
            if m:
                d["target_rf_ratio"] = float(m.group(1))
        d["schema_version"] = SCHEMA_VERSION
    return d


def record_section(info: "ModelRecord | Mapping[str, Any]", key: str) -> Any:
    """``info[key]`` as plain data (dicts, lists), of a :class:`ModelRecord` (None when its ``irnet.json`` did
    not set the key) or of an ``irnet.json`` dict."""
    if isinstance(info, ModelRecord):
        if not info.has(key):
            return None
        value = getattr(info, key, None)
        return value.to_dict() if hasattr(value, "to_dict") else value
    return info.get(key) if isinstance(info, Mapping) else None


def as_record(info: "ModelRecord | Mapping[str, Any]", source: str = INFO_FILE) -> ModelRecord:
    """``info`` as a :class:`ModelRecord` (a dict of ``irnet.json`` contents is parsed)."""
    return info if isinstance(info, ModelRecord) else ModelRecord.from_dict(info, source)


__all__ = [
    "ModelRecord",
    "RecordSection",
    "record_section",
    "FeaturizerInfo",
    "Scaler",
    "Target",
    "DataInfo",
    "Hyperparameters",
    "TrainingRun",
    "Baseline",
    "WeightsPrecision",
    "CrossValidation",
    "OutputRules",
    "CompositionRanges",
    "SCHEMA_VERSION",
    "INFO_FILE",
    "as_record",
]
