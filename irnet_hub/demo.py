"""The quick-start job behind ``make run`` / ``irnet demo``."""

from __future__ import annotations

from typing import Callable

from irnet_hub.constants import DEFAULT_MODEL

DEMO_FORMULAS = ["NaCl", "MgO", "Fe2O3", "SiC", "TiO2", "Al2O3"]


def run_demo(echo: Callable[[str], None] = print) -> None:
    """Predict a few formulas with the default model and state its test error.

    Errors are not caught here: a model that cannot be obtained or fails its
    integrity check is reported by the CLI with its own exit code, never
    replaced by something else.
    """
    from irnet_hub.hub import load

    model = load(DEFAULT_MODEL)
    echo(model.predict(DEMO_FORMULAS).to_string(index=False))
    test = model.record.metrics.get("test") or {}
    if "mae" in test:
        echo(f"\n{DEFAULT_MODEL}: test MAE {test['mae']:.3g} {model.unit} on {test['n']} held-out compounds; "
             f"single predictions can be far off (see `irnet info {DEFAULT_MODEL}`).")
