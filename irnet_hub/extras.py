"""Which optional extra each task needs, and the error that says how to install it.

A core install (``pip install irnet-hub``) predicts, featurizes, evaluates, pulls and publishes:
prediction is a NumPy forward pass. Training needs Keras and its backend (``[train]``:
TensorFlow), screening at scale needs Dask and Parquet (``[screen]``), the model server needs
KServe (``[serve]``).
"""

from __future__ import annotations

import importlib.util
import os

from irnet_hub.errors import MissingDependencyError

# extra -> the top-level modules it provides
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("keras", "tensorflow", "jax", "torch"),
    "screen": ("dask", "distributed", "pyarrow"),
    "serve": ("kserve",),
}
_TASKS = {"train": "training (and reading a model with Keras)", "screen": "irnet screen", "serve": "the model server"}


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def _keras_backend_module() -> str:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow").strip().lower()
    return {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)


def require(extra: str) -> None:
    """Raise :class:`~irnet_hub.errors.MissingDependencyError` (exit code 3) if ``extra`` is not installed."""
    modules = ("keras", _keras_backend_module()) if extra == "train" else EXTRA_MODULES[extra]
    absent = [m for m in modules if _missing(m)]
    if absent:
        raise MissingDependencyError(", ".join(absent), install_hint(extra))


def install_hint(extra: str) -> str:
    return (f"{_TASKS[extra]} needs the [{extra}] extra, which is not installed: "
            f"pip install 'irnet-hub[{extra}]'")  # fmt: skip


def as_missing_dependency(error: ImportError) -> MissingDependencyError | None:
    """The install hint for an ImportError of a module an extra provides; None for any other module."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    for extra, modules in EXTRA_MODULES.items():
        if name in modules:
            return MissingDependencyError(name, install_hint(extra))
    return None


__all__ = ["EXTRA_MODULES", "require", "install_hint", "as_missing_dependency"]
