"""The quick-start job behind ``make run`` / ``irnet demo``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

DEMO_FORMULAS = ["NaCl", "MgO", "Fe2O3", "SiC", "TiO2", "Al2O3"]
DEFAULT_MODEL = "oqmd-formation-enthalpy"


def run_demo(echo: Callable[[str], None] = print) -> None:
    """Predict a few formulas with the default model, or train a small one if none ships yet."""
    import irnet_hub

    try:
        model = irnet_hub.load(DEFAULT_MODEL)
    except Exception as e:  # no default model in this checkout yet: fall back to training one
        echo(f"default model {DEFAULT_MODEL!r} not available ({e}); training a small IRNet instead")
        model = None
    if model is not None:
        echo(model.predict(DEMO_FORMULAS).to_string(index=False))
        test = (model.metadata.get("metrics") or {}).get("test") or {}
        if "mae" in test:
            unit = model.metadata["target"]["unit"]
            echo(f"\n{DEFAULT_MODEL}: test MAE {test['mae']:.3g} {unit} on {test['n']} held-out compounds; "
                 f"single predictions can be far off (see `irnet info {DEFAULT_MODEL}`).")
        return

    from irnet_hub.data import load_split
    from irnet_hub.evaluation import evaluate
    from irnet_hub.training import train

    train_df = load_split("mp-bulk-modulus", "train")
    val_df = load_split("mp-bulk-modulus", "val")
    out = Path(tempfile.mkdtemp(prefix="irnet-demo-")) / "mp-bulk-modulus-demo"
    echo(f"training IRNet-17 on {len(train_df)} Materials Project bulk moduli (about a minute on 2 cores)")
    info = train(train_df, out, val_data=val_df, target_name="bulk modulus", unit="GPa",
                 epochs=40, batch_size=256, learning_rate=1e-3, patience=10, name="mp-bulk-modulus-demo")
    echo(f"validation MAE {info['metrics']['val']['mae']:.1f} GPa "
         f"(predicting the training mean: {abs(val_df.target - train_df.target.mean()).mean():.1f} GPa)")
    m = evaluate(out, val_df)
    echo(f"re-scored from disk: MAE {m['mae']:.1f} GPa on {m['n']} validation rows")
    from irnet_hub.evaluation import predict_features
    from irnet_hub.featurize.composition import featurize_compositions

    res = featurize_compositions(DEMO_FORMULAS, errors="raise")
    for f, p in zip(DEMO_FORMULAS, predict_features(out, res.features)):
        echo(f"  {f:8s} {p:8.1f} GPa")
    echo(f"model directory: {out}")
