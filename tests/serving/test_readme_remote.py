"""README "Remote inference": the client blocks, run as written against a real `irnet serve` on port 8080's stand-in.

tests/test_readme.py runs every other README block in .venv; these need a running server (and
`make serve`, which starts it, runs until stopped), so they run here, in .venv-serve, against
`irnet serve oqmd-formation-enthalpy` started the way `make serve` starts it (no token), with
the README's port 8080 replaced by a free port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("kserve", reason="the serving tests run in .venv-serve (`make test` runs them there)")

from serve_helpers import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def remote_blocks() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Remote inference"):]
    section = section[: section.index("\n## ", 3)]
    return re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.S)


def test_make_serve_runs_this_command():
    make = (REPO / "Makefile").read_text()
    assert "$(SERVE_BIN)/irnet serve oqmd-formation-enthalpy" in make
    assert [lang for lang, _ in remote_blocks()] == ["bash", "bash", "python"]
    assert remote_blocks()[0][1].startswith("make serve")


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IRNET_HUB_SERVABLES": str(REPO / "servables")}
    log = tmp_path_factory.mktemp("readme-serve") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "irnet_hub.cli", "serve", "oqmd-formation-enthalpy",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(480):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
            assert proc.poll() is None, log.read_text()[-2000:]
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("index", [1, 2])
def test_readme_client_block_runs(plain_server, index, tmp_path):
    lang, code = remote_blocks()[index]
    code = code.replace(":8080", f":{plain_server}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HF_HUB_OFFLINE": "1"}
    cmd = ["bash", "-e", "-o", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    assert "Traceback" not in r.stderr
    assert "NaCl" in r.stdout and "eV/atom" in r.stdout  # a prediction came back, with its unit
    if lang == "bash":
        assert '"name":"prediction","shape":[1],"datatype":"FP32"' in r.stdout  # curl's raw V2 response
