"""Shared fixtures: the real data folder (../shared/data or $IRNET_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]

# The longest files first (measured with --durations, cold feature cache). make test runs two workers
# with --dist loadfile: each file runs whole on one worker, in collection order, so a long file
# collected last (alphabetical order put these near the end) left the other worker idle for minutes.
LONG_FILES_FIRST = ("test_shipped_models.py", "test_readme.py", "test_zoo.py", "test_train_evaluate.py",
                    "test_transfer.py", "test_cli_core.py", "test_featurize_structure.py", "test_robustness_cli.py",
                    "test_backends.py", "test_servable.py")  # fmt: skip


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order within a file is kept


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("IRNET_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        raise RuntimeError(f"real data folder not found at {path}; set IRNET_DATA_DIR")
    return path


# --- hub tests (servables, Hugging Face publish, DLHub) ---------------------------------------


@pytest.fixture(scope="session")
def hub_model_dir(tmp_path_factory, data_dir) -> Path:
    """A small real model: 3 epochs of a 4-layer IRNet on 400 Materials Project bulk moduli."""
    import pandas as pd

    from irnet_hub.training import train

    folder = data_dir / "crabnet" / "benchmark_data" / "mp_bulk_modulus"
    out = tmp_path_factory.mktemp("hub") / "mp-bulk-modulus-small"
    train(
        pd.read_csv(folder / "train.csv").head(400),
        out,
        val_data=folder / "val.csv",
        test_data=folder / "test.csv",
        architecture="64BARx2-32BARx1-1",
        epochs=3,
        batch_size=128,
        learning_rate=1e-3,
        patience=2,
        target_name="bulk modulus",
        unit="GPa",
        dataset="mp-bulk-modulus",
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def hub_servable_dir(tmp_path_factory, hub_model_dir) -> Path:
    """The servable folder built from ``hub_model_dir`` (treat as read-only: it is shared)."""
    from irnet_hub.publish.servable import build_servable

    return build_servable(hub_model_dir, tmp_path_factory.mktemp("servable") / "servable",
                          anchors={"CrabNet (Wang et al. 2021)": 11.209})
