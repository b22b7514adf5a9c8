"""A real ``irnet serve`` process on 127.0.0.1, started once for the serving tests and stopped after.

These tests run in ``.venv-serve`` (the ``serve-test`` extra: KServe needs pydantic 2, which the
``dlhub`` extra of the main environment cannot have); ``make test`` runs them there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import (
    COMPOSITION_MODEL,
    MAX_BODY_BYTES,
    MAX_ROWS,
    STRUCTURE_MODEL,
    TOKEN,
    Server,
    build_ensemble,
    own_server,
)


@pytest.fixture(scope="session")
def ensemble_dir(tmp_path_factory, data_dir) -> Path:
    return build_ensemble(tmp_path_factory.mktemp("ensemble") / "ens3", data_dir)


@pytest.fixture(scope="session")
def server(tmp_path_factory, ensemble_dir) -> Server:
    tmp = tmp_path_factory.mktemp("serve")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    with own_server(tmp, str(COMPOSITION_MODEL), str(STRUCTURE_MODEL), f"ens3={ensemble_dir}", "--max-rows",
                    str(MAX_ROWS), "--max-body-mb", str(MAX_BODY_BYTES / 1024 / 1024), "--access-log",
                    token_file=token_file) as (srv, _):
        yield srv


@pytest.fixture(scope="session")
def formulas(data_dir) -> list[str]:
    """300 real OQMD formulas, and a few with elements the model saw rarely (Kr: 3 training compositions)
    or never (Ra, Am): the default model learns from 215k rows since 2026-12-07, which hold Pu, Np, Ac."""
    import pandas as pd

    df = pd.read_csv(data_dir / "crabnet" / "benchmark_data" / "OQMD_Formation_Enthalpy" / "val.csv")
    return list(df["formula"].head(300)) + ["KrF2", "RaO", "AmO2", "XeF4"]


@pytest.fixture(scope="session")
def structures(data_dir):
    """Three small real structures of the phonons model's data set."""
    from irnet_hub.featurize.structure import load_structures

    all_ = load_structures(data_dir / "structures" / "matbench_phonons.json.gz")
    return [s for s in all_ if len(s) <= 4][:3]
