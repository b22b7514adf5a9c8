"""The nine networks of Table 1 and the architecture-string parser."""

from __future__ import annotations

import numpy as np
import pytest

from irnet_hub.errors import InvalidInputError
from irnet_hub.networks import ARCHITECTURES, build_network, count_layers, parse_architecture

# Table 1 of Jha et al. 2019 (48-layer third group: 256, see networks.py docstring).
TABLE1_WIDTHS = {
    17: [1024] * 4 + [512] * 3 + [256] * 3 + [128] * 3 + [64] * 2 + [32] * 1,
    24: [1024] * 4 + [512] * 4 + [256] * 4 + [128] * 4 + [64] * 3 + [32] * 2 + [16] * 2,
    48: [1024] * 8 + [512] * 8 + [256] * 8 + [128] * 8 + [64] * 8 + [32] * 4 + [16] * 3,
}
# Shortcut after each stack of equal-width sequences (SRNet): stack sizes per depth.
SRNET_STACKS = {17: [4, 3, 3, 3, 2, 1], 24: [4, 4, 4, 4, 3, 2, 2], 48: [4] * 11 + [3]}


def _main_path_dense(model):
    return [l for l in model.layers if l.__class__.__name__ == "Dense" and l.name.startswith("fc")]


def _add_inputs(model):
    """For each Add layer: the names of the layers feeding it (after any projection), read from the
    model's public functional config (no Keras internals)."""

    def sources(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                return [value["config"]["keras_history"][0]]
            return [n for v in value.values() for n in sources(v)]
        if isinstance(value, (list, tuple)):
            return [n for v in value for n in sources(v)]
        return []

    return [sources(layer["inbound_nodes"][0]["args"]) for layer in model.get_config()["layers"]
            if layer["class_name"] == "Add"]


@pytest.fixture(scope="module")
def keras_mod():
    import keras

    return keras


@pytest.mark.parametrize("family", ["plain", "srnet", "irnet"])
@pytest.mark.parametrize("depth", [17, 24, 48])
def test_table1_widths_and_shortcuts(keras_mod, family, depth):
    name = f"{family}-{depth}"
    model = build_network(name, 145)
    dense = _main_path_dense(model)
    assert [d.units for d in dense] == TABLE1_WIDTHS[depth]
    assert count_layers(name) == depth == len(dense) + 1
    out = model.get_layer("output")
    assert out.units == 1 and out.activation.__name__ == "linear"
    # every sequence is Dense -> BatchNorm -> ReLU
    names = [l.name for l in model.layers]
    for i in range(1, len(dense) + 1):
        assert names.index(f"fc{i}") < names.index(f"bn{i}") < names.index(f"relu{i}")
    adds = _add_inputs(model)
    if family == "plain":
        assert adds == []
    elif family == "irnet":
        # one shortcut around every sequence: sequence i's ReLU is added to its input
        assert len(adds) == len(dense)
        for i, ins in enumerate(adds, start=1):
            assert f"relu{i}" in ins
    else:
        stacks = SRNET_STACKS[depth]
        assert len(adds) == len(stacks)
        ends = np.cumsum(stacks)
        for end, ins in zip(ends, adds):
            assert f"relu{end}" in ins
    # projections (Eq. 1) exactly where the width changes, bias-free
    for layer in model.layers:
        if layer.name.startswith("proj"):
            assert layer.use_bias is False


def test_projection_only_when_widths_differ(keras_mod):
    model = build_network("16BARx3-1", 16)
    assert not [l for l in model.layers if l.name.startswith("proj")]
    model = build_network("16BARx3-1", 10)
    assert len([l for l in model.layers if l.name.startswith("proj")]) == 1


def test_parse_custom_strings():
    groups, out = parse_architecture("1024BARx4-512BAx3R-256BAx2-1")
    assert [(g.width, g.repeat, g.residual) for g in groups] == [(1024, 4, "each"), (512, 3, "stack"), (256, 2, "none")]
    assert out == 1
    assert parse_architecture("irnet-17") == parse_architecture(ARCHITECTURES["irnet-17"])


@pytest.mark.parametrize("bad", ["", "1024BARx4", "1024XYx4-1", "1024BARx0-1", "1024BARx4R-1", "abc"])
def test_bad_architecture_strings(bad):
    with pytest.raises(InvalidInputError) as e:
        parse_architecture(bad)
    assert repr(bad) in str(e.value) or bad in str(e.value)


def test_save_load_roundtrip_identical(keras_mod, tmp_path):
    keras = keras_mod
    rng = np.random.default_rng(0)
    mean, var = rng.normal(size=145), rng.uniform(0.5, 2, size=145)
    model = build_network("srnet-17", 145, feature_mean=mean, feature_variance=var, target_mean=-1.5, target_scale=0.7, seed=1)
    x = rng.normal(size=(64, 145)).astype("float32")
    keras.saving.save_model(model, tmp_path / "m", zipped=False)
    loaded = keras.saving.load_model(tmp_path / "m", safe_mode=True)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
