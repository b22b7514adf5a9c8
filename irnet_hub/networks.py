"""Plain, SRNet and IRNet regression networks (Table 1 of Jha et al. 2019).

Every sequence is Dense -> BatchNormalization -> ReLU. Residual placement:

* ``plain``: no shortcuts;
* ``srnet``: a shortcut around each *stack* of equal-width sequences;
* ``irnet``: a shortcut around *every* sequence.

A shortcut adds the block input to its output (y = F(x) + x); when the widths
differ it is a bias-free linear projection (Eq. 1, y = F(x) + W_s x). The last
layer is Dense(1) with no activation. Only stock Keras layers are used, so a
saved model loads with plain ``keras.saving.load_model`` and no custom objects.

Architectures are written in the original code's notation: groups separated
by ``-``; ``1024BARx4`` is four Dense(1024)+BatchNorm+ReLU sequences, each with
its own residual (IRNet); ``1024BAx4R`` is four sequences with one residual
around the stack (SRNet); ``1024BAx4`` has none (plain); the last group is the
output width ``1``. Users can pass their own strings.

Table 1 of the paper lists the third group of the 48-layer IRNet as FC1024 where
SRNet has FC256. We follow the authors' released architecture strings (their
README), which use 256 for all three 48-layer networks, so that the three
families differ only in shortcut placement; Table 1's 1024 reads as a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Residual = Literal["none", "stack", "each"]


@dataclass(frozen=True)
class Group:
    """``repeat`` sequences of Dense(``width``) + BatchNorm + ReLU."""

    width: int
    repeat: int
    residual: Residual


ARCHITECTURES: dict[str, str] = {
    "plain-17": "1024BAx4-512BAx3-256BAx3-128BAx3-64BAx2-32BAx1-1",
    "srnet-17": "1024BAx4R-512BAx3R-256BAx3R-128BAx3R-64BAx2R-32BAx1R-1",
    "irnet-17": "1024BARx4-512BARx3-256BARx3-128BARx3-64BARx2-32BARx1-1",
    "plain-24": "1024BAx4-512BAx4-256BAx4-128BAx4-64BAx3-32BAx2-16BAx2-1",
    "srnet-24": "1024BAx4R-512BAx4R-256BAx4R-128BAx4R-64BAx3R-32BAx2R-16BAx2R-1",
    "irnet-24": "1024BARx4-512BARx4-256BARx4-128BARx4-64BARx3-32BARx2-16BARx2-1",
    "plain-48": "1024BAx4-1024BAx4-512BAx4-512BAx4-256BAx4-256BAx4-128BAx4-128BAx4-"
    "64BAx4-64BAx4-32BAx4-16BAx3-1",
    "srnet-48": "1024BAx4R-1024BAx4R-512BAx4R-512BAx4R-256BAx4R-256BAx4R-128BAx4R-"
    "128BAx4R-64BAx4R-64BAx4R-32BAx4R-16BAx3R-1",
    "irnet-48": "1024BARx4-1024BARx4-512BARx4-512BARx4-256BARx4-256BARx4-128BARx4-"
    "128BARx4-64BARx4-64BARx4-32BARx4-16BARx3-1",
}

_GROUP = re.compile(r"^(?P<width>\d+)(?P<body>BAR|BA)x(?P<repeat>\d+)(?P<stack>R?)$")



# The model format's fixed layers (no trainable weights): the saved model maps raw features
# to the target's unit. Tools that read a model's scaling look these names up.
STANDARDIZE_LAYER = "standardize"


def unstandardize_layer(member: int | None = None) -> str:
    """Name of the target rescaling layer: of a single network, or of ensemble member ``member``."""
    return "unstandardize" if member is None else f"m{member}_unstandardize"


def resolve_architecture(spec: str) -> str:
    """The architecture string of a name, a name with a width factor, or a string.

    ``irnet-17/4`` is IRNet-17 with every hidden width divided by 4 (rounded,
    at least 1): the same depth and shortcut placement with ~1/16 of the
    parameters, a size that 40k-200k training rows can fill on a 2-core CPU
    (docs/zoo.md). The paper's full-width networks stay the defaults.

    >>> resolve_architecture("irnet-17/4")
    '256BARx4-128BARx3-64BARx3-32BARx3-16BARx2-8BARx1-1'
    """
    name, slash, factor = spec.partition("/")
    if not slash:
        return ARCHITECTURES.get(spec, spec)
    from irnet_hub.errors import InvalidInputError

    if name not in ARCHITECTURES or not factor.isdigit() or int(factor) < 1:
        raise InvalidInputError(
            spec, f"a width factor is written NAME/N with NAME one of {sorted(ARCHITECTURES)} and N a positive integer"
        )
    n = int(factor)

    def narrow(part: str) -> str:
        m = _GROUP.match(part)
        if not m:
            return part
        return f"{max(1, round(int(m['width']) / n))}{m['body']}x{m['repeat']}{m['stack']}"

    return "-".join(narrow(p) for p in ARCHITECTURES[name].split("-"))


def parse_architecture(spec: str) -> tuple[list[Group], int]:
    """Parse an architecture string into its groups and the output width.

    >>> parse_architecture("64BARx2-32BAx1R-1")[0][0]
    Group(width=64, repeat=2, residual='each')
    """
    from irnet_hub.errors import InvalidInputError

    text = resolve_architecture(spec)
    parts = [p.strip() for p in text.strip().split("-")]
    if len(parts) < 2 or not parts[-1].isdigit() or int(parts[-1]) < 1:
        raise InvalidInputError(
            spec,
            "an architecture is groups like '1024BARx4' joined by '-' and ending in the "
            f"output width, e.g. '{ARCHITECTURES['irnet-17']}', or one of {sorted(ARCHITECTURES)}",
        )
    groups = []
    for part in parts[:-1]:
        m = _GROUP.match(part)
        if not m or int(m["width"]) < 1 or int(m["repeat"]) < 1:
            raise InvalidInputError(
                spec,
                f"cannot read group {part!r}: expected WIDTHBAxN (plain), WIDTHBAxNR "
                "(stacked residual) or WIDTHBARxN (residual on every sequence)",
            )
        if m["body"] == "BAR" and m["stack"]:
            raise InvalidInputError(spec, f"group {part!r} marks both per-sequence and stack residuals")
        residual: Residual = "each" if m["body"] == "BAR" else ("stack" if m["stack"] else "none")
        groups.append(Group(int(m["width"]), int(m["repeat"]), residual))
    return groups, int(parts[-1])


def count_layers(spec: str) -> int:
    """Number of Dense layers on the main path (the paper's depth), shortcuts excluded."""
    groups, _ = parse_architecture(spec)
    return sum(g.repeat for g in groups) + 1


def build_network(
    architecture: str,
    n_features: int,
    *,
    feature_mean=None,
    feature_variance=None,
    target_mean: float = 0.0,
    target_scale: float = 1.0,
    name: str | None = None,
    seed: int | None = None,
):
    """Build a Keras functional model from a name in :data:`ARCHITECTURES` or a string.

    With ``feature_mean``/``feature_variance`` the model starts with a fixed
    ``Normalization`` layer, and with ``target_mean``/``target_scale`` it ends
    with a fixed ``Rescaling`` layer, so the saved model maps raw features to
    the target in its own unit. The trainable part is exactly the paper's
    network either way.
    """
    import keras
    from keras import layers

    groups, n_out = parse_architecture(architecture)
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    if feature_mean is not None:
        x = layers.Normalization(mean=feature_mean, variance=feature_variance, name=STANDARDIZE_LAYER)(x)
    out = _tower(x, groups, n_out, prefix="", seed=seed)
    if target_mean != 0.0 or target_scale != 1.0:
        out = layers.Rescaling(scale=float(target_scale), offset=float(target_mean), name=unstandardize_layer())(out)
    return keras.Model(inputs, out, name=name or _model_name(architecture))


def _tower(x, groups: list[Group], n_out: int, *, prefix: str, seed: int | None):
    """The paper's network on an input tensor: Dense-BN-ReLU sequences, shortcuts, Dense(n_out)."""
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform(seed=seed)
    proj_init = keras.initializers.GlorotUniform(seed=None if seed is None else seed + 1)
    counter = {"fc": 0, "sc": 0}

    def sequence(h, width):
        counter["fc"] += 1
        i = counter["fc"]
        h = layers.Dense(width, kernel_initializer=init, name=f"{prefix}fc{i}")(h)
        h = layers.BatchNormalization(name=f"{prefix}bn{i}")(h)
        return layers.ReLU(name=f"{prefix}relu{i}")(h)

    def shortcut(block_in, block_out, width):
        counter["sc"] += 1
        j = counter["sc"]
        if block_in.shape[-1] != width:  # Eq. 1: linear projection W_s x
            block_in = layers.Dense(width, use_bias=False, kernel_initializer=proj_init, name=f"{prefix}proj{j}")(block_in)
        return layers.Add(name=f"{prefix}residual{j}")([block_out, block_in])

    for g in groups:
        stack_in = x
        for _ in range(g.repeat):
            seq_in = x
            x = sequence(x, g.width)
            if g.residual == "each":
                x = shortcut(seq_in, x, g.width)
        if g.residual == "stack":
            x = shortcut(stack_in, x, g.width)
    return layers.Dense(n_out, kernel_initializer=init, name=f"{prefix}output")(x)


TargetTransform = Literal["none", "log", "log1p"]


def build_ensemble(
    architecture: str,
    n_features: int,
    members: int,
    *,
    feature_mean,
    feature_variance,
    target_mean: float,
    target_scale: float,
    target_transform: TargetTransform = "none",
    log_cap: float | None = None,
    seed: int = 0,
):
    """``members`` networks side by side, as a training model and a prediction model.

    Returns ``(train_model, model)``, which share their layers:

    * ``train_model`` maps features to the members' outputs in standardized,
      transformed target units, shape ``(n, members)``; fitting it with the
      target repeated per column trains every member on its own loss (the
      members share no trainable weight), in one pass over the data.
    * ``model`` maps raw features to the target in its own unit, shape
      ``(n, 1 + members)``: column 0 is the members' mean, then each member.
      ``target_transform`` "log" or "log1p" means the network was fitted to
      log(y) or log(1 + y), mapped back by an ``exponential`` activation,
      so a positive property cannot come out negative.
      ``log_cap`` bounds the log-space value before the exponential
      (``min(t, log_cap)``, written as ``cap - relu(cap - t)`` in stock
      layers), so that an input far outside the training data gives a large
      finite number instead of an overflow to infinity. It acts on the
      prediction model only; training never sees it.

    Only stock layers (Normalization, Dense, BatchNormalization, ReLU, Add,
    Rescaling, Activation, Concatenate, Average): ``keras.saving.load_model``
    reads it with no custom objects, and the NumPy runtime can run it.
    """
    import keras
    from keras import layers

    if members < 1:
        from irnet_hub.errors import InvalidInputError

        raise InvalidInputError(members, "an ensemble needs at least one member")
    groups, n_out = parse_architecture(architecture)
    inputs = keras.Input(shape=(n_features,), name="features")
    x = layers.Normalization(mean=feature_mean, variance=feature_variance, name=STANDARDIZE_LAYER)(inputs)
    raw, unit = [], []
    for j in range(members):
        t = _tower(x, groups, n_out, prefix=f"m{j}_", seed=seed + 1000 * j)
        raw.append(t)
        y = layers.Rescaling(scale=float(target_scale), offset=float(target_mean), name=unstandardize_layer(j))(t)
        if target_transform in ("log", "log1p"):
            if log_cap is not None:
                y = layers.Rescaling(scale=-1.0, offset=float(log_cap), name=f"m{j}_cap_gap")(y)
                y = layers.ReLU(name=f"m{j}_cap_relu")(y)
                y = layers.Rescaling(scale=-1.0, offset=float(log_cap), name=f"m{j}_capped")(y)
            y = layers.Activation("exponential", name=f"m{j}_exp")(y)
            if target_transform == "log1p":
                y = layers.Rescaling(scale=1.0, offset=-1.0, name=f"m{j}_minus_one")(y)
        unit.append(y)
    if members == 1:
        train_out, out = raw[0], unit[0]
    else:
        train_out = layers.Concatenate(name="members_standardized")(raw)
        mean = layers.Average(name="ensemble_mean")(unit)
        out = layers.Concatenate(name="mean_and_members")([mean, *unit])
    name = f"{_model_name(architecture.partition('/')[0])}_x{members}"
    return keras.Model(inputs, train_out, name=f"{name}_train"), keras.Model(inputs, out, name=name)


def _model_name(architecture: str) -> str:
    if architecture in ARCHITECTURES:
        return architecture.replace("-", "_")
    return "custom_network"
