"""irnet-hub: IRNet deep residual regression models for materials properties.

Importing this package is cheap: TensorFlow/Keras and matminer load only when
a function that needs them is called.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "train": ("irnet_hub.train", "train"),
    "evaluate": ("irnet_hub.evaluate", "evaluate"),
    "baseline": ("irnet_hub.baseline", "baseline"),
    "build_network": ("irnet_hub.networks", "build_network"),
    "featurize_compositions": ("irnet_hub.featurize.composition", "featurize_compositions"),
    "featurize_structures": ("irnet_hub.featurize.structure", "featurize_structures"),
    "InvalidInputError": ("irnet_hub.errors", "InvalidInputError"),
    # The model hub: prediction with NumPy, no TensorFlow/Keras import.
    "list_models": ("irnet_hub.hub", "list_models"),
    "load": ("irnet_hub.hub", "load"),
    "pull": ("irnet_hub.hub", "pull"),
    "Predictor": ("irnet_hub.inference", "Predictor"),
    # Stability screening: candidates -> predicted hulls -> energy above hull.
    "screen": ("irnet_hub.screen.run", "screen"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'irnet_hub' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
