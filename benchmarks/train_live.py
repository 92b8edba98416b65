"""Train live's presets, measured: class coverage over training for several seeds (mode collapse or not), the
training speed, and the time to the first grid through the running app.

Coverage = classes holding >= 2 % of 256 samples from fixed latents, judged by genlab's Fashion-MNIST classifier
(the tab's own measure), every 100 steps. Each preset runs its default number of steps.

    python benchmarks/train_live.py [--seeds 0,1,2,3,4] [--threads 1] [--app]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # genlab
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--presets", default="gan-collapse,gan-stable,vae-beta-1,vae-beta-high")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--app", action="store_true", help="also time the first grid through the running app")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from genlab.core.control import Control, drain
    from genlab.techniques import train_live as tl

    for preset in [p for p in a.presets.split(",") if p in tl.PRESETS]:
        finals = []
        for seed in map(int, a.seeds.split(",")):
            s = tl.Settings(preset=preset, steps=tl.DEFAULT_STEPS[preset], every=100, seed=seed)
            t = time.perf_counter()
            r = drain(tl.run(s, ctl=Control(seconds=float("inf"))))
            rate = s.steps / (time.perf_counter() - t)
            curve = [c["classes"] for c in r.data["coverage"]]
            finals.append(curve[-1])
            print(
                f"{preset} seed {seed}: {s.steps} steps, {rate:.1f} steps/s (incl. grids), coverage every 100 "
                f"steps {curve}",
                flush=True,
            )
        print(
            f"{preset}: final coverage {finals}; <= 3 classes in {sum(f <= 3 for f in finals)}/{len(finals)}, "
            f">= 9 in {sum(f >= 9 for f in finals)}/{len(finals)}",
            flush=True,
        )
    if a.app:
        from common import start_app
        from gradio_client import Client

        proc, url, _ = start_app()
        try:
            c = Client(url, verbose=False)
            job = c.submit(preset="gan-stable", steps=200, every=20, seed=0, api_name="/train_live")
            t = time.perf_counter()
            first = None
            while not job.done():
                if first is None and job.outputs() and any(o[0] for o in job.outputs()):
                    first = time.perf_counter() - t
                time.sleep(0.05)
            total = time.perf_counter() - t
            print(
                f"/train_live gan-stable 200 steps: first grid after {first:.2f} s, whole request {total:.1f} s",
                flush=True,
            )
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
