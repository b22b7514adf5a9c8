"""irnet-hub: IRNet deep residual regression models for materials properties.

The public API is the names in ``__all__``. No public function shares its name
with a module of this package (``train`` lives in :mod:`irnet_hub.training`,
``evaluate`` in :mod:`irnet_hub.evaluation`, ``baseline`` in
:mod:`irnet_hub.random_forest`, ``screen`` in :mod:`irnet_hub.stability`), so
importing a submodule never rebinds a function name on the package.

Importing this package is cheap: TensorFlow/Keras, pymatgen and matminer load
only when a function that needs them is first used (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from irnet_hub import errors

__version__ = "0.1.0"

# name -> (module, attribute): resolved on first access, then cached in globals().
_LAZY: dict[str, tuple[str, str]] = {
    "train": ("irnet_hub.training", "train"),
    "evaluate": ("irnet_hub.evaluation", "evaluate"),
    "baseline": ("irnet_hub.random_forest", "baseline"),
    "build_network": ("irnet_hub.networks", "build_network"),
    "featurize_compositions": ("irnet_hub.featurize.composition", "featurize_compositions"),
    "featurize_structures": ("irnet_hub.featurize.structure", "featurize_structures"),
    # The model hub: prediction with NumPy, no TensorFlow/Keras import.
    "list_models": ("irnet_hub.hub", "list_models"),
    "model_info": ("irnet_hub.hub", "model_info"),
    "load": ("irnet_hub.loading", "load"),
    "pull": ("irnet_hub.hub", "pull"),
    "Predictor": ("irnet_hub.predictor", "Predictor"),
    "PredictionResult": ("irnet_hub.predictor", "PredictionResult"),
    "ModelRecord": ("irnet_hub.record", "ModelRecord"),
    # Stability screening: candidates -> predicted hulls -> energy above hull.
    "screen": ("irnet_hub.stability.run", "screen"),
    "ScreenResult": ("irnet_hub.stability.run", "ScreenResult"),
    # Kept for callers of the earlier API: the error types also live in irnet_hub.errors.
    "InvalidInputError": ("irnet_hub.errors", "InvalidInputError"),
}

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.evaluation import evaluate
    from irnet_hub.featurize.composition import featurize_compositions
    from irnet_hub.featurize.structure import featurize_structures
    from irnet_hub.hub import list_models, model_info, pull
    from irnet_hub.loading import load
    from irnet_hub.networks import build_network
    from irnet_hub.predictor import PredictionResult, Predictor
    from irnet_hub.random_forest import baseline
    from irnet_hub.record import ModelRecord
    from irnet_hub.stability.run import ScreenResult, screen
    from irnet_hub.training import train


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'irnet_hub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", "errors", *_LAZY]
