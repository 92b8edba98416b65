"""Memory policy trade-off (genlab.core.memory), measured through the running app for each GENLAB_MALLOC policy:
the time of default 512 px style transfers (what a user waits for), then RSS after each of a series of 1024 px
runs (memory must stay flat) and the peak.

    python benchmarks/malloc.py [--policies trim,mmap,off] [--fast 2] [--big 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, rss_mb, start_app

CONTENT, STYLE = ROOT / "examples/content/chelsea.jpg", ROOT / "examples/styles/hokusai_great_wave.jpg"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", default="trim,mmap,off")
    ap.add_argument("--fast", type=int, default=2, help="timed 512 px default requests per policy")
    ap.add_argument("--big", type=int, default=6, help="1024 px runs per policy (5 + 5 iterations each)")
    args = ap.parse_args()
    from gradio_client import Client, handle_file

    for policy in args.policies.split(","):
        os.environ["GENLAB_MALLOC"] = policy
        proc, url, _ = start_app()
        try:
            c = Client(url, verbose=False)
            kw = dict(content=handle_file(str(CONTENT)), style=handle_file(str(STYLE)), style2=None)
            c.predict(**kw, size=256, steps=2, coarse_steps=2, api_name="/style_transfer")  # loads VGG
            times = []
            for _ in range(args.fast):
                t0 = time.perf_counter()
                c.predict(**kw, api_name="/style_transfer")
                times.append(time.perf_counter() - t0)
            rss = []
            for _ in range(args.big):
                c.predict(**kw, size=1024, steps=5, coarse_steps=5, api_name="/style_transfer")
                rss.append(rss_mb(proc.pid)[0])
            speed = (
                f"512 px default {statistics.median(times):.1f} s (runs {', '.join(f'{t:.1f}' for t in times)}); "
                if times
                else ""
            )
            print(
                f"{policy}: {speed}"
                f"RSS after each 1024 px run {' '.join(f'{r:,.0f}' for r in rss)} MB; peak {rss_mb(proc.pid)[1]:,.0f} MB",
                flush=True,
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
