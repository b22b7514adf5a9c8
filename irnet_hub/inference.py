"""Fast local inference: a NumPy forward pass over a saved Keras network, and the model object.

:class:`NumpyNetwork` reads a Keras 3 model directory (``config.json``, the
functional graph, and ``model.weights.h5``) with ``json`` and ``h5py`` only and
evaluates it in float32 with NumPy. It never imports TensorFlow or Keras, so a
prediction starts in well under a second instead of the several seconds a
TensorFlow import costs. It supports exactly the layers irnet-hub networks are
built from (:mod:`irnet_hub.networks`): InputLayer, Normalization, Dense,
BatchNormalization, ReLU, Add and Rescaling; any other layer is refused with
:class:`UnsupportedModelError` rather than silently mis-evaluated.

:class:`Predictor` wraps a model directory: featurize inputs (formulas,
pymatgen Compositions or Structures), fill missing features, run the network
in batches and flag inputs outside the training domain.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from irnet_hub.errors import BatchInputError, InvalidInputError, RowFailure

SUPPORTED_LAYERS = ("InputLayer", "Normalization", "Dense", "BatchNormalization", "ReLU", "Add", "Rescaling")
# An element seen in fewer training compositions than this makes a prediction out of domain.
DEFAULT_MIN_ELEMENT_COUNT = 5
# Rows per network/featurizer batch: large enough for efficient matrix products,
# small enough that a 1024-wide activation batch (32 MB) stays cheap.
DEFAULT_BATCH_SIZE = 8192
# Inputs at or above this many rows get a progress bar by default.
PROGRESS_MIN_ROWS = 20_000
_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), used by Normalization


class UnsupportedModelError(InvalidInputError):
    """A saved network uses a layer or setting the NumPy forward pass does not implement."""


# --------------------------------------------------------------------------- network


@dataclass
class _Node:
    name: str
    kind: str
    inputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)


def _snake_case(name: str) -> str:
    # Same transformation as keras.src.utils.naming.to_snake_case: Keras names the
    # weight groups in model.weights.h5 after the layer *class*, not the layer name.
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _tensor_refs(obj: Any) -> list[str]:
    """Layer names of the ``__keras_tensor__`` references inside an inbound-node argument."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            history = obj["config"]["keras_history"]
            if history[1] != 0 or history[2] != 0:
                raise UnsupportedModelError(history[0], "layers called more than once (shared layers) are not supported")
            return [history[0]]
        return [r for v in obj.values() for r in _tensor_refs(v)]
    if isinstance(obj, (list, tuple)):
        return [r for v in obj for r in _tensor_refs(v)]
    return []


def _endpoint(spec: Any, what: str, source: str) -> str:
    # Keras writes a single endpoint as ["name", 0, 0] and several as [["a", 0, 0], ...].
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return spec[0]
    if isinstance(spec, list) and len(spec) == 1 and isinstance(spec[0], list):
        return spec[0][0]
    raise UnsupportedModelError(source, f"exactly one {what} tensor is supported, found {spec!r}")


class NumpyNetwork:
    """A Keras functional network evaluated with NumPy (float32), no TensorFlow/Keras import."""

    def __init__(self, nodes: list[_Node], input_name: str, output_name: str, n_features: int, source: str = ""):
        self.nodes = nodes  # topological order
        self.input_name = input_name
        self.output_name = output_name
        self.n_features = n_features
        self.source = source
        # After which node each intermediate can be freed (keeps peak memory to a few
        # activations), and which nodes may overwrite their first input in place (its last
        # use, and not the caller's array): saves an allocation and a memory pass per layer.
        last_use: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for name in node.inputs:
                last_use[name] = i
        self._free_after: list[list[str]] = [[] for _ in nodes]
        for name, i in last_use.items():
            if name != output_name:
                self._free_after[i].append(name)
        self._inplace = [
            bool(node.inputs)
            and node.inputs[0] != input_name
            and last_use.get(node.inputs[0]) == i
            and node.inputs.count(node.inputs[0]) == 1
            for i, node in enumerate(nodes)
        ]

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> "NumpyNetwork":
        """Read ``config.json`` and ``model.weights.h5`` of a Keras 3 model directory."""
        d = Path(model_dir)
        return cls.from_files(d / "config.json", d / "model.weights.h5")

    @classmethod
    def from_files(cls, config_path: str | Path, weights_path: str | Path) -> "NumpyNetwork":
        """Build from a Keras 3 ``config.json`` (functional model) and its ``model.weights.h5``."""
        import h5py

        src = str(config_path)
        try:
            config = json.loads(Path(config_path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UnsupportedModelError(src, f"cannot read the Keras model config ({e})") from None
        if config.get("class_name") not in ("Functional", "Model") or "layers" not in config.get("config", {}):
            raise UnsupportedModelError(
                src, f"expected a Keras functional model config, found class {config.get('class_name')!r}"
            )
        cfg = config["config"]
        input_name = _endpoint(cfg.get("input_layers"), "input", src)
        output_name = _endpoint(cfg.get("output_layers"), "output", src)

        try:
            h5 = h5py.File(weights_path, "r")
        except OSError as e:
            raise UnsupportedModelError(str(weights_path), f"cannot read the Keras weights file ({e})") from None
        with h5:
            if "layers" not in h5:
                raise UnsupportedModelError(str(weights_path), "not a Keras 3 weights file (no 'layers' group)")
            used: dict[str, int] = {}
            nodes: dict[str, _Node] = {}
            order: list[str] = []
            n_features = 0
            for layer in cfg["layers"]:
                kind, name, lc = layer["class_name"], layer.get("name") or layer["config"]["name"], layer["config"]
                # Keras 3 stores each layer's variables under layers/<snake_case(class)>[_k]/vars/<i>,
                # numbered in the order of model.layers (the config's order).
                base = _snake_case(kind)
                if base in used:
                    used[base] += 1
                    key = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                    key = base
                group = h5.get(f"layers/{key}/vars")
                weights = [] if group is None else [np.asarray(group[str(i)]) for i in range(len(group))]
                if kind not in SUPPORTED_LAYERS:
                    raise UnsupportedModelError(
                        name, f"layer type {kind} is not supported by the NumPy forward pass "
                        f"(supported: {', '.join(SUPPORTED_LAYERS)}); load the model with Keras instead"
                    )
                _check_dtype(name, lc)
                inbound = layer.get("inbound_nodes", [])
                if len(inbound) > 1:
                    raise UnsupportedModelError(name, "layers called more than once (shared layers) are not supported")
                inputs = _tensor_refs(inbound[0]["args"]) if inbound else []
                node = _Node(name, kind, inputs)
                if kind == "InputLayer":
                    shape = lc.get("batch_shape") or lc.get("batch_input_shape")
                    if not shape or len(shape) != 2 or shape[1] is None:
                        raise UnsupportedModelError(name, f"the input must be a flat feature vector, found shape {shape}")
                    n_features = int(shape[1])
                else:
                    node.params = _layer_params(kind, name, lc, weights)
                nodes[name] = node
                order.append(name)
        if input_name not in nodes or output_name not in nodes:
            raise UnsupportedModelError(src, "the model's input or output layer is missing from its config")
        topo = _toposort(nodes, order, input_name, output_name)
        return cls(topo, input_name, output_name, n_features, source=str(Path(config_path).parent))

    def __call__(self, X: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Outputs for raw features ``X`` of shape (n, n_features), as float32 (n, n_out)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise InvalidInputError(f"array of shape {X.shape}", f"the network expects (n, {self.n_features}) features")
        if len(X) <= batch_size:
            return self._forward(X)
        return np.concatenate([self._forward(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])

    def _forward(self, X: np.ndarray) -> np.ndarray:
        values: dict[str, np.ndarray] = {}
        for i, node in enumerate(self.nodes):
            if node.kind == "InputLayer":
                out = X
            else:
                out = _APPLY[node.kind](node.params, [values[n] for n in node.inputs], self._inplace[i])
            values[node.name] = out
            for name in self._free_after[i]:
                values.pop(name, None)
        return values[self.output_name]


# Float dtype policies: weights stored in float16/bfloat16 (halved files) are upcast and
# evaluated in float32. Keras computes such layers in float16; float32 arithmetic is at
# least as close to the original float32 network (measured: max deviation from the
# float32 model 0.8 vs Keras-float16's 1.8 on outputs of ~200), and float16 arithmetic
# cannot be reproduced bit for bit outside TensorFlow anyway.
_FLOAT_POLICIES = {None, "float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"}


def _check_dtype(name: str, lc: dict[str, Any]) -> None:
    dtype = lc.get("dtype")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    if dtype not in _FLOAT_POLICIES:
        raise UnsupportedModelError(name, f"dtype policy {dtype!r} is not supported (float32, float16, bfloat16 only)")


def _vector(value: Any, name: str, what: str) -> np.ndarray:
    if isinstance(value, dict):  # a serialized array object; irnet-hub networks store plain lists
        raise UnsupportedModelError(name, f"cannot read the {what} stored as {value.get('class_name')!r}")
    return np.asarray(value, dtype=np.float32).reshape(-1)


def _layer_params(kind: str, name: str, lc: dict[str, Any], w: list[np.ndarray]) -> dict[str, Any]:
    def need(n: int) -> None:
        if len(w) != n:
            raise UnsupportedModelError(name, f"{kind} layer has {len(w)} saved variables, expected {n}")

    if kind == "Dense":
        act = lc.get("activation", "linear")
        if act not in ("linear", "relu", None):
            raise UnsupportedModelError(name, f"Dense activation {act!r} is not supported (only linear or relu)")
        if lc.get("quantization_config") or lc.get("lora_rank"):
            raise UnsupportedModelError(name, "quantized or LoRA Dense layers are not supported")
        use_bias = lc.get("use_bias", True)
        need(2 if use_bias else 1)
        kernel = w[0].astype(np.float32)
        if kernel.ndim != 2 or kernel.shape[1] != lc["units"]:
            raise UnsupportedModelError(name, f"Dense kernel has shape {kernel.shape}, expected (n, {lc['units']})")
        return {"kernel": kernel, "bias": w[1].astype(np.float32) if use_bias else None, "relu": act == "relu"}
    if kind == "BatchNormalization":
        axis = lc.get("axis", -1)
        if axis not in (-1, 1, [-1], [1]) or lc.get("renorm"):
            raise UnsupportedModelError(name, "only BatchNormalization over the last axis without renorm is supported")
        center, scale = lc.get("center", True), lc.get("scale", True)
        need(int(center) + int(scale) + 2)
        # Variable order is Keras's creation order: gamma, beta, moving_mean, moving_variance.
        it = iter(w)
        gamma = next(it) if scale else None
        beta = next(it) if center else None
        mean, var = next(it), next(it)
        # Exactly tf.nn.batch_normalization in inference mode: x * inv + (beta - mean * inv),
        # inv = rsqrt(var + eps) * gamma, all in float32.
        inv = (np.float32(1.0) / np.sqrt(var.astype(np.float32) + np.float32(lc.get("epsilon", 1e-3)))).astype(np.float32)
        if gamma is not None:
            inv = (inv * gamma.astype(np.float32)).astype(np.float32)
        shift = -mean.astype(np.float32) * inv
        if beta is not None:
            shift = beta.astype(np.float32) + shift
        return {"mul": inv.astype(np.float32), "add": shift.astype(np.float32)}
    if kind == "Normalization":
        if lc.get("axis", [-1]) not in ([-1], -1, [1], 1, (-1,)):
            raise UnsupportedModelError(name, "only Normalization over the last axis is supported")
        if lc.get("mean") is not None:
            mean, var = _vector(lc["mean"], name, "mean"), _vector(lc["variance"], name, "variance")
        else:  # adapted layer: the statistics are saved variables (mean, variance, count)
            if len(w) < 2:
                raise UnsupportedModelError(name, "Normalization layer has neither a configured nor a saved mean")
            mean, var = w[0].astype(np.float32).reshape(-1), w[1].astype(np.float32).reshape(-1)
        std = np.maximum(np.sqrt(var), np.float32(_KERAS_EPSILON)).astype(np.float32)
        return {"mean": mean, "std": std, "invert": bool(lc.get("invert", False))}
    if kind == "Rescaling":
        return {
            "scale": _vector(lc.get("scale", 1.0), name, "scale"),
            "offset": _vector(lc.get("offset", 0.0), name, "offset"),
        }
    if kind == "ReLU":
        neg, thr, mx = lc.get("negative_slope", 0.0) or 0.0, lc.get("threshold", 0.0) or 0.0, lc.get("max_value")
        return {"negative_slope": np.float32(neg), "threshold": np.float32(thr), "max_value": None if mx is None else np.float32(mx)}
    return {}  # Add


def _dense(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    out = xs[0] @ p["kernel"]  # a new array: matmul cannot run in place
    if p["bias"] is not None:
        out += p["bias"]
    if p["relu"]:
        np.maximum(out, 0, out=out)
    return out


def _batchnorm(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    out = np.multiply(xs[0], p["mul"], out=xs[0] if inplace else None)
    out += p["add"]
    return out


def _normalization(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    if p["invert"]:
        return p["mean"] + xs[0] * p["std"]
    return (xs[0] - p["mean"]) / p["std"]


def _relu(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    x = xs[0]
    if p["negative_slope"] == 0 and p["threshold"] == 0 and p["max_value"] is None:
        return np.maximum(x, np.float32(0), out=x if inplace else None)
    thr, neg = p["threshold"], p["negative_slope"]
    out = np.where(x >= thr, x, neg * (x - thr)).astype(np.float32)
    if p["max_value"] is not None:
        np.minimum(out, p["max_value"], out=out)
    return out


def _add(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    out = np.add(xs[0], xs[1], out=xs[0] if inplace else None)
    for x in xs[2:]:
        out += x
    return out


def _rescaling(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    return xs[0] * p["scale"] + p["offset"]


_APPLY = {
    "Dense": _dense,
    "BatchNormalization": _batchnorm,
    "Normalization": _normalization,
    "ReLU": _relu,
    "Add": _add,
    "Rescaling": _rescaling,
}


def _toposort(nodes: dict[str, _Node], order: list[str], input_name: str, output_name: str) -> list[_Node]:
    """Kahn's algorithm (stable in config order); only the nodes the output depends on."""
    needed: set[str] = set()
    stack = [output_name]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        if n not in nodes:
            raise UnsupportedModelError(n, "a layer refers to an input layer missing from the config")
        needed.add(n)
        stack.extend(nodes[n].inputs)
    if input_name not in needed:
        raise UnsupportedModelError(output_name, "the output does not depend on the input")
    pending = {n: len(set(nodes[n].inputs)) for n in needed}
    users: dict[str, list[str]] = {n: [] for n in needed}
    for n in needed:
        for i in set(nodes[n].inputs):
            users[i].append(n)
    rank = {n: i for i, n in enumerate(order)}
    ready = sorted((n for n, k in pending.items() if k == 0), key=rank.get)
    out: list[_Node] = []
    while ready:
        n = ready.pop(0)
        out.append(nodes[n])
        for u in users[n]:
            pending[u] -= 1
            if pending[u] == 0:
                ready.append(u)
        ready.sort(key=rank.get)
    if len(out) != len(needed):
        raise UnsupportedModelError(output_name, "the layer graph has a cycle")
    for node in out:
        if node.kind == "InputLayer" and node.name != input_name:
            raise UnsupportedModelError(node.name, "models with more than one input are not supported")
        if node.kind == "Add" and len(node.inputs) < 2:
            raise UnsupportedModelError(node.name, "an Add layer needs at least two inputs")
        if node.kind not in ("InputLayer", "Add") and len(node.inputs) != 1:
            raise UnsupportedModelError(node.name, f"{node.kind} layer with {len(node.inputs)} inputs")
    return out


# --------------------------------------------------------------------------- model object


class Predictor:
    """A trained irnet-hub model, ready to predict: ``irnet_hub.load(...)`` returns one.

    ``predict(inputs)`` takes formula strings, pymatgen ``Composition`` objects,
    ``Structure`` objects (for structure models, or for composition models via
    their composition), a pandas Series of those, or a DataFrame with a
    ``formula`` (or ``structure``) column, and returns a DataFrame with one
    row per input: ``formula``, ``prediction``, ``unit``, ``model``,
    ``in_domain`` and ``rare_elements``.
    """

    def __init__(self, model_dir: str | Path, network: NumpyNetwork, info: dict[str, Any], *, name: str | None = None,
                 min_element_count: int = DEFAULT_MIN_ELEMENT_COUNT):
        self.path = Path(model_dir)
        self.network = network
        self._info = info
        self.name = name or info.get("name") or self.path.name
        self.min_element_count = min_element_count
        feat = info.get("featurizer", {})
        self.featurizer: str = feat.get("name", "magpie145")
        self.input_kind: str = feat.get("input_kind", "composition")
        self.unit: str = info.get("target", {}).get("unit", "")
        self.property: str = info.get("target", {}).get("name", "")
        self._feature_mean = np.asarray(info["scaler"]["feature_mean"], dtype=np.float32)
        self._element_counts: dict[str, int] = dict(info.get("element_counts") or {})
        if network.n_features != len(self._feature_mean):
            raise UnsupportedModelError(str(model_dir), f"network takes {network.n_features} features but irnet.json "
                                        f"lists {len(self._feature_mean)}")

    @classmethod
    def from_dir(cls, model_dir: str | Path, *, name: str | None = None, verify: bool = True) -> "Predictor":
        """Load a model directory, checked by :func:`irnet_hub.artifact.check_model_dir` unless ``verify=False``."""
        from irnet_hub import artifact

        path = artifact.check_model_dir(model_dir, verify=verify)
        info = artifact.read_info(path)
        for key in ("scaler", "featurizer", "target"):
            if key not in info:
                raise InvalidInputError(str(path), f"irnet.json lacks {key!r}")
        return cls(path, NumpyNetwork.from_dir(path), info, name=name)

    @property
    def metadata(self) -> dict[str, Any]:
        """The model's ``irnet.json`` contents."""
        return self._info

    @property
    def card(self) -> str:
        """The model card (``README.md``), or ``''`` when the model has none."""
        p = self.path / "README.md"
        return p.read_text(encoding="utf-8") if p.is_file() else ""

    def keras_model(self):
        """The network as a Keras model (imports Keras; loaded with ``safe_mode=True``, no custom objects)."""
        from irnet_hub import artifact

        return artifact.load_keras_model(self.path)

    def __repr__(self) -> str:
        return f"Predictor({self.name!r}, property={self.property!r}, unit={self.unit!r}, path='{self.path}')"

    # -- prediction -----------------------------------------------------------------------

    def network_outputs(self, X: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Raw network outputs (n, 1) or, for an ensemble, (n, 1 + k): NaN features get the training mean.

        Non-finite outputs raise :class:`~irnet_hub.errors.IntegrityError`: they are never passed on.
        """
        from irnet_hub.output_rules import check_finite

        X = np.array(X, dtype=np.float32, copy=True)
        bad = np.isnan(X)
        if bad.any():
            X[bad] = np.broadcast_to(self._feature_mean, X.shape)[bad]
        out = self.network(X, batch_size=batch_size)
        check_finite(out, self.name)
        return out

    def predict_features(self, X: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Predictions (the ensemble mean, column 0) for raw feature rows; no output rules applied."""
        return self.network_outputs(X, batch_size=batch_size)[:, 0]

    @property
    def output_rules(self):
        """The :class:`~irnet_hub.output_rules.OutputRules` this model's predictions obey."""
        from irnet_hub.output_rules import rules_for

        return rules_for(self._info)

    def predict(
        self,
        inputs: Any,
        *,
        errors: Literal["raise", "skip"] = "raise",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
    ):
        """Predict the property for each input; returns a pandas DataFrame.

        The result's index is the input's: a Series' or DataFrame's index, a
        list's positions (named ``row``), so ``df["pred"] = model.predict(df)["prediction"]``
        lines up row by row. ``errors="raise"`` (default): any invalid input
        raises :class:`~irnet_hub.errors.BatchInputError` naming each one and
        why, and nothing is predicted. ``errors="skip"``: invalid rows keep
        their label with a NaN prediction and the reason in ``note``; they are
        also listed in ``result.attrs["failures"]`` (a list of
        :class:`~irnet_hub.errors.RowFailure`, ``row`` = position).

        Columns: ``formula``, ``prediction``, ``prediction_std`` (ensembles of
        3 or more members: std of the members x the model's ``std_scale``,
        float32), ``unit``, ``model``, ``in_domain``, ``rare_elements`` and
        ``note`` (why a value was fixed by an output rule, why a row is out of
        domain or skipped). Output rules (:mod:`irnet_hub.output_rules`): a
        formation-energy model gives exactly 0 for an element; a non-negative
        property is never below 0. ``progress=None`` shows a progress bar for
        inputs of :data:`PROGRESS_MIN_ROWS` rows or more.
        """
        import pandas as pd

        from irnet_hub.output_rules import apply_rules

        if errors not in ("raise", "skip"):
            raise InvalidInputError(errors, "errors must be 'raise' or 'skip'")
        labels, items = self._as_items(inputs)
        n = len(items)
        show = (n >= PROGRESS_MIN_ROWS) if progress is None else bool(progress)
        featurize = self._featurize_fn()

        rows_out: list[np.ndarray] = []
        outs: list[np.ndarray] = []
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
                    outs.append(self.network_outputs(res.features, batch_size=batch_size))
                bar.update(len(chunk))
        if failures and errors == "raise":
            raise BatchInputError(failures)

        rows = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
        out = np.concatenate(outs) if outs else np.zeros((0, self.network_width), np.float32)
        kept = [items[i] for i in rows]
        dom = self._domain(kept)
        members = out[:, 1:]
        std = None
        if members.shape[1] >= 3:
            std = (np.std(members, axis=1) * np.float32(self._info.get("std_scale", 1.0))).astype(np.float32)
        pred, std, rule_notes = apply_rules(out[:, 0].astype(np.float64), dom["n_elements"], self.output_rules,
                                            std=std, property_name=self.property)

        # Every input row, in input order, under its own label; skipped rows hold NaN and the reason.
        prediction = np.full(n, np.nan)
        prediction[rows] = pred
        in_domain = pd.array([pd.NA] * n, dtype="boolean")
        if len(rows):
            in_domain[rows] = pd.array(dom["in_domain"], dtype="boolean")
        rare = [""] * n
        note = [""] * n
        for j, i in enumerate(rows):
            rare[i] = dom["rare"][j]
            note[i] = "; ".join(t for t in (rule_notes[j], dom["note"][j]) if t)
        for f in failures:
            note[f.row] = f"skipped: {f.reason}"
        columns: dict[str, Any] = {"formula": [_formula_of(x) for x in items], "prediction": prediction}
        if std is not None:
            full_std = np.full(n, np.nan, dtype=np.float32)
            full_std[rows] = std
            columns["prediction_std"] = full_std
        columns.update(unit=self.unit, model=self.name, in_domain=in_domain, rare_elements=rare, note=note)
        df = pd.DataFrame(columns, index=labels)
        df.attrs["failures"] = failures
        return df

    @property
    def network_width(self) -> int:
        """Columns of the network's output: 1, or 1 + k for an ensemble of k members (irnet.json ``ensemble_size``)."""
        k = int(self._info.get("ensemble_size", 1) or 1)
        return 1 + k if k > 1 else 1

    def _featurize_fn(self):
        from irnet_hub.featurize import get_featurizer

        spec, fn = get_featurizer(self.featurizer)
        trained = str(self._info.get("featurizer", {}).get("version", spec.version))
        if trained != spec.version:
            warnings.warn(f"{self.name} was trained with {spec.name} version {trained}; this irnet-hub has "
                          f"version {spec.version}, so its features may differ", stacklevel=3)
        if spec.n_features != self.network.n_features:
            raise UnsupportedModelError(self.name, f"featurizer {spec.name} gives {spec.n_features} features but the "
                                        f"network takes {self.network.n_features}")
        return lambda chunk: fn(chunk, errors="collect", progress=False)

    def _as_items(self, inputs: Any):
        """(labels, items): the accepted input forms as a list, and the index the result keeps."""
        import pandas as pd

        column = "structure" if self.input_kind == "structure" else "formula"
        labels = None
        if isinstance(inputs, pd.DataFrame):
            if column in inputs.columns:
                values = list(inputs[column])
            elif "formula" in inputs.columns:
                values = list(inputs["formula"])
            else:
                raise InvalidInputError("<DataFrame>", f"needs a {column!r} column; found {list(inputs.columns)}")
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

    def _domain(self, items: list[Any]) -> dict[str, list[Any]]:
        """Per item: ``in_domain``, rare elements, number of elements and a note.

        Out of domain: an element seen in fewer than ``min_element_count``
        training compositions, or a stoichiometry outside the training
        ``composition_ranges`` (atoms per formula unit, smallest element fraction).
        """
        from irnet_hub.output_rules import composition_ranges_for, element_amounts, stoichiometry

        counts, k = self._element_counts, self.min_element_count
        ranges = composition_ranges_for(self._info)
        out: dict[str, list[Any]] = {"in_domain": [], "rare": [], "n_elements": [], "note": []}
        cache: dict[Any, tuple[Any, str, int, str]] = {}
        for item in items:
            key = item if isinstance(item, str) else None
            if key is not None and key in cache:
                flag, rare, n_el, note = cache[key]
            else:
                amounts = element_amounts(item)
                if amounts is None:
                    flag, rare, n_el, note = None, "", 0, ""
                else:
                    notes = []
                    low = [e for e in amounts if counts.get(e, 0) < k] if counts else []
                    if counts and low:
                        notes.append(f"rare in training: {','.join(low)}")
                    iso = [e for e in amounts if e in ("D", "T")]
                    if iso:
                        notes.append(f"{'/'.join(iso)} (hydrogen isotope) has the features of H: predicted as H")
                    atoms, frac = stoichiometry(amounts.values())
                    stoich_bad = False
                    if ranges:
                        if atoms > ranges["max_atoms_per_formula_unit"] * (1 + 1e-9):
                            stoich_bad = True
                            notes.append(f"{atoms:g} atoms per formula unit, training had at most "
                                         f"{ranges['max_atoms_per_formula_unit']:g}")
                        if frac < ranges["min_fraction"] * (1 - 1e-9):
                            stoich_bad = True
                            notes.append(f"element fraction {frac:.3g}, training had none below {ranges['min_fraction']:.3g}")
                    known = bool(counts) or bool(ranges)
                    flag = (not low and not stoich_bad) if known else None
                    rare, n_el, note = ",".join(low), len(amounts), "; ".join(notes)
                if key is not None:
                    cache[key] = (flag, rare, n_el, note)
            out["in_domain"].append(flag)
            out["rare"].append(rare)
            out["n_elements"].append(n_el)
            out["note"].append(note)
        return out


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


def _formula_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    comp = getattr(item, "composition", item)
    return getattr(comp, "reduced_formula", None) or str(item)


# Plain formulas (Fe2O3, Al1Sm1Tm1, Fe0.62C0.00095): elements read by a regex, ~50x faster
# than a full parse; anything else (brackets, hydrates, ...) goes through the featurizer's parser.
_PLAIN_FORMULA = re.compile(r"^(?:[A-Z][a-z]?(?:\d+(?:\.\d*)?|\.\d+)?)+$")
_SYMBOL = re.compile(r"[A-Z][a-z]?")


def _elements_of(item: Any) -> list[str] | None:
    """Element symbols of a formula/Composition/Structure (None if unreadable)."""
    if isinstance(item, str):
        text = item.strip()
        if _PLAIN_FORMULA.match(text):
            return list(dict.fromkeys(_SYMBOL.findall(text)))
        from irnet_hub.featurize.composition import parse_composition

        try:
            item = parse_composition(text)
        except (ValueError, KeyError, TypeError):
            return None
    comp = getattr(item, "composition", item)
    if hasattr(comp, "element_composition"):
        comp = comp.element_composition  # species with oxidation states -> elements
    if hasattr(comp, "elements"):
        return [getattr(e, "symbol", str(e)) for e in comp.elements]
    return None


# --------------------------------------------------------------------------- files


def read_inputs(paths: Sequence[str | Path], input_kind: str = "composition") -> list[Any]:
    """Inputs from files: CSVs with a ``formula`` column, or structure files for structure models.

    Formulas are read as text (``NaN``, sodium nitride, stays a formula; an
    empty cell is reported as an empty formula). Structure files are CIF,
    POSCAR/CONTCAR, pymatgen JSON or a Matbench-style frame
    (:func:`irnet_hub.featurize.structure.load_structures`).
    """
    import pandas as pd

    items: list[Any] = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise InvalidInputError(str(path), "file not found")
        if input_kind == "structure":
            from irnet_hub.featurize.structure import load_structures

            items.extend(load_structures(p))
            continue
        try:
            from irnet_hub.data import sniff_separator

            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[], sep=sniff_separator(p))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise InvalidInputError(str(path), f"not a readable CSV ({e})") from None
        if "formula" not in df.columns:
            raise InvalidInputError(str(path), f"needs a 'formula' column; found {list(df.columns)}")
        items.extend(df["formula"].tolist())
    return items


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
                v = None  # JSON has no NaN/inf; only skipped rows (note says why) have no prediction
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
    """Write predictions atomically beside the real target (:mod:`irnet_hub.files`): never a half-written
    file, a symlink followed, a device or read-only file refused without ``force``.

    ``fmt`` defaults to JSON for ``*.json`` and CSV otherwise.
    """
    from irnet_hub.files import write_text

    out = Path(path)
    fmt = fmt or ("json" if out.suffix.lower() == ".json" else "csv")
    text = format_predictions(df, fmt)
    write_text(out, text if text.endswith("\n") else text + "\n", force=force)
    return out


def load_dir(model_dir: str | Path, *, name: str | None = None, verify: bool = True) -> Predictor:
    """Load a model directory as a :class:`Predictor` (NumPy inference, no TensorFlow)."""
    return Predictor.from_dir(model_dir, name=name, verify=verify)


__all__ = [
    "NumpyNetwork",
    "Predictor",
    "UnsupportedModelError",
    "load_dir",
    "read_inputs",
    "format_predictions",
    "write_predictions",
    "prediction_records",
    "SUPPORTED_LAYERS",
]
