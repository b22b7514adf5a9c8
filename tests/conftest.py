"""Shared fixtures: the real data folder (../shared/data or $IRNET_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("IRNET_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        raise RuntimeError(f"real data folder not found at {path}; set IRNET_DATA_DIR")
    return path
