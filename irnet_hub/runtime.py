"""The NumPy runtime: read a saved Keras network and evaluate it without TensorFlow.

:class:`NumpyNetwork` reads a Keras 3 model directory (``config.json``, the
functional graph, and ``model.weights.h5``) with ``json`` and ``h5py`` only and
evaluates it in float32 with NumPy. It never imports TensorFlow or Keras, so a
prediction starts in well under a second instead of the several seconds a
TensorFlow import costs. It supports exactly the layers irnet-hub networks are
built from (:mod:`irnet_hub.networks`, and the ensembles of the model zoo):
InputLayer, Normalization, Dense, BatchNormalization, ReLU, Add, Rescaling,
Concatenate, Average and Activation (linear, relu, exponential, softplus); any
other layer is refused with :class:`~irnet_hub.errors.UnsupportedModelError`
rather than silently mis-evaluated.

An ensemble of k members is one functional model with output shape
(n, 1 + k): column 0 is the members' ``Average``, columns 1..k each member
(``Concatenate``). :attr:`NumpyNetwork.n_outputs` gives the width.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irnet_hub.errors import InvalidInputError, UnsupportedModelError

SUPPORTED_LAYERS = (
    "InputLayer", "Normalization", "Dense", "BatchNormalization", "ReLU", "Add", "Rescaling",
    "Concatenate", "Average", "Activation",
)
# Activations of an ``Activation`` layer: relu inside networks; exponential/softplus end the
# members of log-target ensembles, which then predict in the original unit.
SUPPORTED_ACTIVATIONS = ("linear", "relu", "exponential", "softplus")
# Layers that combine several tensors; every other non-input layer takes exactly one.
_MERGE_LAYERS = ("Add", "Average", "Concatenate")
# Rows per network batch: large enough for efficient matrix products,
# small enough that a 1024-wide activation batch (32 MB) stays cheap.
DEFAULT_BATCH_SIZE = 8192
_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), used by Normalization


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


def _fuse_dense_bn_relu(nodes: list[_Node], output_name: str) -> list[_Node]:
    """Fold each BatchNormalization into the Dense before it, and a plain ReLU after it into the same product.

    In inference BatchNormalization is ``x * mul + add``, so Dense-BN is one Dense with
    ``kernel * mul`` and ``bias * mul + add``; that saves two memory passes per layer
    (about 10 % of an IRNet's forward time). It changes results only by float32
    rounding (relative ~1e-7 per layer). Only a node whose output feeds nothing else is folded.
    """
    consumers: dict[str, list[str]] = {}
    for node in nodes:
        for name in node.inputs:
            consumers.setdefault(name, []).append(node.name)
    by_name = {node.name: node for node in nodes}
    dropped: set[str] = set()
    out: list[_Node] = []
    for node in nodes:
        if node.name in dropped:
            continue
        src = by_name.get(node.inputs[0]) if node.inputs else None
        sole = src is not None and consumers.get(src.name) == [node.name] and src.name != output_name
        if node.kind == "BatchNormalization" and sole and src.kind == "Dense" and not src.params["relu"]:
            p, bn = src.params, node.params
            bias = p["bias"] if p["bias"] is not None else np.zeros(p["kernel"].shape[1], np.float32)
            fused = {"kernel": (p["kernel"] * bn["mul"]).astype(np.float32),
                     "bias": (bias * bn["mul"] + bn["add"]).astype(np.float32), "relu": False}  # fmt: skip
            out = [n for n in out if n is not src]  # by identity: nodes hold arrays, == would compare them
            node = _Node(node.name, "Dense", list(src.inputs), fused)
            by_name[node.name] = node
            relu = [by_name[c] for c in consumers.get(node.name, [])]
            if (len(relu) == 1 and relu[0].kind == "ReLU" and node.name != output_name
                    and relu[0].params["negative_slope"] == 0 and relu[0].params["threshold"] == 0
                    and relu[0].params["max_value"] is None):  # fmt: skip
                node = _Node(relu[0].name, "Dense", list(src.inputs), {**fused, "relu": True})
                by_name[node.name] = node
                dropped.add(relu[0].name)
        out.append(node)
    return out


class NumpyNetwork:
    """A Keras functional network evaluated with NumPy (float32), no TensorFlow/Keras import."""

    def __init__(self, nodes: list[_Node], input_name: str, output_name: str, n_features: int, source: str = ""):
        nodes = _fuse_dense_bn_relu(nodes, output_name)
        self.nodes = nodes  # topological order
        self.input_name = input_name
        self.output_name = output_name
        self.n_features = n_features
        self.source = source
        self._n_outputs: int | None = None
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

    @property
    def n_outputs(self) -> int:
        """Output columns: 1 for a single network, 1 + k for an ensemble of k members."""
        if self._n_outputs is None:
            self._n_outputs = int(self._forward(np.zeros((1, self.n_features), np.float32)).shape[1])
        return self._n_outputs

    @property
    def ensemble_size(self) -> int:
        """k for an ensemble (output 1 + k columns), 1 for a single network."""
        return 1 if self.n_outputs == 1 else self.n_outputs - 1

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
    if kind == "Activation":
        act = lc.get("activation", "linear")
        if act not in SUPPORTED_ACTIVATIONS:
            raise UnsupportedModelError(
                name, f"Activation {act!r} is not supported (supported: {', '.join(SUPPORTED_ACTIVATIONS)})"
            )
        return {"activation": act}
    if kind == "Concatenate":
        if lc.get("axis", -1) not in (-1, 1):
            raise UnsupportedModelError(name, "only Concatenate over the last axis is supported")
        return {}
    return {}  # Add, Average


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


def _average(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    # Keras's Average: the running sum, then one division by the count (same order of operations).
    out = np.add(xs[0], xs[1], out=xs[0] if inplace else None) if len(xs) > 1 else xs[0].copy()
    for x in xs[2:]:
        out += x
    out /= np.float32(len(xs))
    return out


def _concatenate(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


def _activation(p: dict[str, Any], xs: list[np.ndarray], inplace: bool) -> np.ndarray:
    x, act = xs[0], p["activation"]
    out = x if inplace else None
    if act == "linear":
        return x
    if act == "relu":
        return np.maximum(x, np.float32(0), out=out)
    if act == "exponential":
        return np.exp(x, out=out)
    # softplus = log(1 + exp(x)), computed without overflow for large x
    return np.logaddexp(np.float32(0), x, out=out)


_APPLY = {
    "Dense": _dense,
    "BatchNormalization": _batchnorm,
    "Normalization": _normalization,
    "ReLU": _relu,
    "Add": _add,
    "Rescaling": _rescaling,
    "Average": _average,
    "Concatenate": _concatenate,
    "Activation": _activation,
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
        if node.kind in ("Average", "Concatenate") and not node.inputs:
            raise UnsupportedModelError(node.name, f"a {node.kind} layer needs at least one input")
        if node.kind not in ("InputLayer", *_MERGE_LAYERS) and len(node.inputs) != 1:
            raise UnsupportedModelError(node.name, f"{node.kind} layer with {len(node.inputs)} inputs")
    return out


__all__ = ["NumpyNetwork", "SUPPORTED_LAYERS", "SUPPORTED_ACTIVATIONS", "DEFAULT_BATCH_SIZE", "UnsupportedModelError"]
