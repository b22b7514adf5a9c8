"""docs/serving: the Dockerfile and the InferenceService cannot be run here (no Docker engine, no
Kubernetes), so these tests check what can be checked: that they agree with the code they deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("kserve", reason="the serving tests run in .venv-serve (`make test` runs them there)")

import click  # noqa: E402
import yaml  # noqa: E402

from irnet_hub.cli import main  # noqa: E402
from irnet_hub.hub import list_models  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving"
REPO = DOCS.parents[1]


def parse_serve(args: list[str]) -> click.Context:
    """The `irnet serve` options as click parses them (raises on an unknown option)."""
    return main.commands["serve"].make_context("serve", list(args))


def test_inferenceservice_matches_the_server():
    doc = yaml.safe_load((DOCS / "inferenceservice.yaml").read_text())
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1" and doc["kind"] == "InferenceService"
    (container,) = doc["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    ctx = parse_serve(container["args"])
    assert ctx.params["models"][0] in list_models()
    assert ctx.params["port"] == container["ports"][0]["containerPort"] == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    from irnet_hub.serving.server import SecurityMiddleware

    # The probes carry no token, so they must be among the paths auth leaves open.
    assert {"/v2/health/ready", "/v2/health/live"} <= set(SecurityMiddleware.OPEN_PATHS)
    mount = container["volumeMounts"][0]["mountPath"]
    assert ctx.params["token_file"].startswith(mount + "/")


def test_dockerfile_matches_the_repository():
    text = (DOCS / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    for ln in lines:
        if ln.startswith("COPY "):
            for src in ln.split()[1:-1]:
                assert (REPO / src).exists(), src
    entry = next(ln for ln in lines if ln.startswith("ENTRYPOINT"))
    cmd = next(ln for ln in lines if ln.startswith("CMD"))
    assert yaml.safe_load(entry.split(None, 1)[1]) == ["irnet", "serve"]
    ctx = parse_serve(yaml.safe_load(cmd.split(None, 1)[1]))
    assert ctx.params["models"][0] in list_models() and ctx.params["port"] == 8080
    assert '".[serve]"' in text and "USER 65534" in text
    assert "UNTESTED" in text and "UNTESTED" in (DOCS / "inferenceservice.yaml").read_text()
