"""Shared fixtures: a running app on a free localhost port, tiny seeded models."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# In-process tests compute in float32, so pinned slices hold on any CPU; genlab's default (bf16 autocast where
# the CPU has BF16 instructions) is what the app under the browser tests runs, and test_precision.py checks it.
PRECISION_PINNED = "GENLAB_PRECISION" not in os.environ
os.environ.setdefault("GENLAB_PRECISION", "fp32")
# The modules that bind a model map by name (`from genlab.models.diffusion import MODELS`), imported before any
# test patches a map: one first imported inside a test, under monkeypatch, would bind the patched map, and
# monkeypatch would "restore" that patch afterwards (a later test on the real model got the tiny one).
BINDS_A_MODEL_MAP = [
    f"genlab.techniques.{m}"
    for m in (
        "text_to_image.pipelines",
        "text_to_image.engine",
        "style_transfer.engine",
        "deep_dream.engine",
        "gan.engine",
        "vae.engine",
    )
]
for _module in BINDS_A_MODEL_MAP:
    importlib.import_module(_module)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`python app.py` on a free 127.0.0.1 port, offline; yields (url, process), stops it afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    if PRECISION_PINNED:
        env.pop("GENLAB_PRECISION")  # the app as users start it
    with open(log, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"app.py did not answer in 120 s: {log.read_text()[-2000:]}")
    yield url, proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server[0]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: apt-get install chromium (see README)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
