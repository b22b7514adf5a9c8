"""Errors by kind and the CLI's one exit-code table (fast: no training, no network)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from irnet_hub import errors
from irnet_hub.cli import EXIT_CODES, exit_code, main

KINDS = [
    (errors.InvalidInputError("x", "bad"), 2),
    (errors.BatchInputError([errors.RowFailure(0, "Xx", "unknown element")]), 2),
    (errors.MissingDependencyError("dlhub-sdk", "pip install 'irnet-hub[dlhub]'"), 3),
    (errors.RemoteError("Hub answered 503"), 4),
    (errors.ModelNotAvailableError("model 'm' is not available"), 4),
    (errors.IntegrityError("model.weights.h5: sha256 mismatch"), 5),
    (errors.UnsupportedModelError("layer", "Dropout is not supported"), 6),
    (errors.IrnetError("anything else"), 1),
]


@pytest.mark.parametrize("error,code", KINDS, ids=lambda x: type(x).__name__ if isinstance(x, Exception) else str(x))
def test_exit_code_of_each_kind(error, code):
    assert exit_code(error) == code


def test_table_lists_each_code_once():
    codes = [c for _, c in EXIT_CODES]
    assert sorted(codes) == [1, 2, 3, 4, 5, 6]


def test_dlhub_missing_is_a_dependency_error_not_bad_input():
    from irnet_hub.hub.dlhub_meta import DLHubUnavailableError
    from irnet_hub.hub.hf import PublishError

    assert exit_code(DLHubUnavailableError("dlhub-sdk", "not installed")) == 3
    assert exit_code(PublishError("org/x", "upload failed (503)")) == 4


@pytest.mark.parametrize("error,code", [(errors.IntegrityError("oqmd: sha256 mismatch"), 5),
                                        (errors.ModelNotAvailableError("not available"), 4)])
def test_demo_reports_the_failure_instead_of_training_something_else(monkeypatch, error, code):
    import irnet_hub.hub

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(irnet_hub.hub, "load", fail)
    r = CliRunner().invoke(main, ["demo"])
    assert r.exit_code == code, r.output
    assert str(error) in r.output and "training" not in r.output.lower()


def test_install_without_servables_says_how_to_get_the_model(monkeypatch, tmp_path):
    """A wheel install has no servables/ folder: the message names the model, the cache and the remedies."""
    from irnet_hub.hub import cache

    monkeypatch.delenv(cache.SERVABLES_ENV, raising=False)
    monkeypatch.setattr(cache, "servables_dir", lambda: tmp_path / "site-packages" / "servables")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(errors.ModelNotAvailableError) as e:
        cache.pull("mp-bulk-modulus")
    text = str(e.value)
    assert "'mp-bulk-modulus'" in text and "no servables/ folder" in text and "wheel install" in text
    assert str(cache.hub_cache_dir()) in text and "irnet pull mp-bulk-modulus" in text
    assert "IRNET_HUB_SERVABLES" in text
