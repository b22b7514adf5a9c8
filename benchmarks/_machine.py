"""What the benchmarks share: where the data is and what machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``$IRNET_DATA_DIR``, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("IRNET_DATA_DIR", REPO.parent / "shared" / "data"))


def report(text: str, results_file: str, write: bool = True) -> None:
    """Print a benchmark's results and, unless ``write`` is false, write them to benchmarks/``results_file``."""
    print(text)
    if write:
        (REPO / "benchmarks" / results_file).write_text(text, encoding="utf-8")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
