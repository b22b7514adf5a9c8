"""The API reference (make docs) builds from the docstrings and every internal link resolves."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "api_reference.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("api_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_builds_with_every_link_resolving(tmp_path):
    out = tmp_path / "api"
    run = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken link" not in run.stderr
    # The user-facing modules each have a page, with their public functions on it.
    predictor = (out / "irnet_hub" / "predictor.html").read_text(encoding="utf-8")
    assert 'id="Predictor.predict"' in predictor
    hub = (out / "irnet_hub" / "hub.html").read_text(encoding="utf-8")
    assert 'id="list_models"' in hub
    assert (out / "index.html").exists()
    # Only modules of an extra this environment lacks may be left out, and they are named.
    left_out = {line.split()[2].rstrip(":") for line in run.stdout.splitlines() if line.strip().startswith("left out")}
    assert left_out <= {"irnet_hub.serving.model", "irnet_hub.serving.server"}
    pages = {p.relative_to(out).with_suffix("").as_posix().replace("/", ".") for p in out.rglob("*.html")}
    names, _ = _script_module().public_modules()
    assert set(names) <= pages


def test_link_check_names_a_missing_page_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#nowhere">b</a>'
                                     '<a href="c.html">c</a><a href="#top">ok</a>'
                                     '<a href="https://example.org/x.html">external</a>')
    (tmp_path / "b.html").write_text('<h1 id="here">B</h1>')
    broken = _script_module().broken_links(tmp_path)
    assert broken == ["a.html: b.html#nowhere (no anchor #nowhere in b.html)", "a.html: c.html (no file c.html)"]
