"""Pieces the benchmark scripts share: starting the app in its own process, reading its memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = "genlab Fashion-MNIST text-to-image (offline)"


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_app(root: Path = ROOT, log: str = "/tmp/genlab-bench-app.log") -> tuple[subprocess.Popen, str, float]:
    """`python app.py` of the checkout at root on a free port, offline: (process, url, seconds until it served)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)], cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 120:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url, time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the app at {root} did not start; see {log}")


def warm_times(call, n: int = 3) -> list[float]:
    """Seconds of n calls of call(), after one warm-up call (which loads the models)."""
    call()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return times


def file_urls(answer) -> list[str]:
    """The URLs of every file in a gradio_client answer (made with download_files=False)."""
    if isinstance(answer, dict):
        own = [answer["url"]] if isinstance(answer.get("url"), str) else []
        return own + [u for v in answer.values() for u in file_urls(v)]
    if isinstance(answer, (list, tuple)):
        return [u for v in answer for u in file_urls(v)]
    return []


def page_call(client, fetch, *args, **kwargs) -> None:
    """One request as a page makes it: wait for the answer, then fetch its files over one kept-alive connection
    (fetch: an httpx.Client). A browser fetches them in parallel, so this is an upper bound of its wait.
    gradio_client's default instead downloads them one by one, each over a new connection, into new folders."""
    for url in file_urls(client.predict(*args, **kwargs)):
        fetch.get(url).raise_for_status()
