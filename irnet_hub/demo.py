"""The quick-start job behind ``make run`` / ``irnet demo``."""

from __future__ import annotations

from typing import Callable

from irnet_hub.constants import DEFAULT_MODEL

DEMO_FORMULAS = ["NaCl", "MgO", "Fe2O3", "SiC", "TiO2", "Al2O3", "AlN", "GaN"]
# Reference formation enthalpies (eV/atom) of the demo compounds: OQMD's DFT values as they stand
# in CrabNet's OQMD split, the data the default model learns from (tests/test_readme.py checks them
# against the files). "train" rows may be in the model's training rows (90 % of train.csv), "val"
# rows are the published validation split, which the model never trains on.
OQMD_REFERENCE: dict[str, tuple[float, str]] = {
    "NaCl": (-2.050614, "train"), "MgO": (-2.946290, "val"), "Fe2O3": (-1.649763, "train"),
    "SiC": (-0.208905, "val"), "TiO2": (-3.242641, "train"), "Al2O3": (-3.265066, "train"),
    "AlN": (-1.509864, "train"), "GaN": (-0.579270, "train"),
}  # fmt: skip
OQMD_REFERENCE_SOURCE = ("OQMD DFT value (Kirklin et al. 2015) in CrabNet's OQMD_Formation_Enthalpy split "
                         "(train.csv or val.csv, as marked)")


def run_demo(echo: Callable[[str], None] = print) -> None:
    """Predict a few well-known compounds with the default model, next to their OQMD reference values,
    and state the model's held-out error.

    Errors are not caught here: a model that cannot be obtained or fails its
    integrity check is reported by the CLI with its own exit code, never
    replaced by something else.
    """
    from irnet_hub.hub import load

    model = load(DEFAULT_MODEL)
    df = model.predict(DEMO_FORMULAS)
    table = df[["formula", "prediction"] + (["prediction_std"] if "prediction_std" in df else []) + ["unit"]].copy()
    table["OQMD"] = [OQMD_REFERENCE[f][0] for f in table["formula"]]
    table["OQMD split"] = [OQMD_REFERENCE[f][1] for f in table["formula"]]
    table["in_domain"] = df["in_domain"]
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    echo(f"\nOQMD: {OQMD_REFERENCE_SOURCE}.")
    test = model.record.metrics.get("test") or {}
    if "mae" in test:
        echo(f"{DEFAULT_MODEL}: test MAE {test['mae']:.3g} {model.unit} on {test['n']} held-out compounds; "
             f"single predictions can be far off (see `irnet info {DEFAULT_MODEL}`).")
