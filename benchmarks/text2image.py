"""Offline text-to-image: samplers side by side — steps x time for 16 images x FID (classifier features).

FID is computed on `--n` images per setting (class-name prompts, equal share per class, the same seeds
for every setting) against the 10,000 test images; 1000-step DDPM ancestral sampling is the quality
reference. FID is biased upwards at small n, equally for every row, so compare rows at the same n.
Time: median of 3 runs of 16 images (one prompt, the default guidance).

    python benchmarks/text2image.py [--n 300]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genlab import datasets as data
from genlab.core.control import Control, drain
from genlab.models import classifier
from genlab.techniques import text_to_image as t2i


def generate(**kw):
    """The offline model's pictures for these settings (no request deadline or budget)."""
    return drain(t2i.run(t2i.Settings(**kw), ctl=Control(seconds=float("inf"), budget=float("inf")))).images


SETTINGS = [
    ("DPM-Solver++", 10),
    ("DPM-Solver++", 15),
    ("DPM-Solver++", 20),
    ("DPM-Solver++", 25),
    ("DDIM", 25),
    ("Euler ancestral", 25),
    ("DDPM (ancestral)", 1000),
]


def images(scheduler, steps, n, seed=0):
    out = []
    per = n // 10
    for k, name in enumerate(data.FASHION_CLASSES):
        for start in range(0, per, 64):
            ims = generate(
                prompt=name,
                steps=steps,
                scheduler=scheduler,
                batch=min(64, per - start),
                seed=seed + 10_000 * k + start,
            )
            out.append(np.stack([np.asarray(im, dtype=np.float32) / 255 for im in ims]))
    return torch.from_numpy(np.concatenate(out))[:, None]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--only", nargs="*", default=None, help="run only these fast schedulers")
    p.add_argument("--skip-reference", action="store_true", help="leave out the 1000-step DDPM row")
    args = p.parse_args()
    clf, _ = classifier.load()
    x_test, _ = data.fashion_mnist(False)
    test_feats, _ = classifier.embed(clf, x_test)
    generate(prompt="warm-up", steps=2, batch=2)
    print(f"torch threads: {torch.get_num_threads()}")
    print("| scheduler | steps | seconds for 16 images | FID (n=%d) |" % args.n)
    print("|---|---|---|---|")
    rows = []
    for sched, steps in [x for x in SETTINGS[:-1] if not args.only or x[0] in args.only] + (
        [] if args.skip_reference else SETTINGS[-1:]
    ):
        times = []
        for r in range(3 if steps <= 50 else 1):
            t0 = time.perf_counter()
            generate(prompt="a pair of sneakers", steps=steps, scheduler=sched, batch=16, seed=r)
            times.append(time.perf_counter() - t0)
        feats, _ = classifier.embed(clf, images(sched, steps, args.n))
        fid = classifier.frechet_distance(feats, test_feats)
        print(f"| {sched} | {steps} | {statistics.median(times):.2f} | {fid:.2f} |", flush=True)
        rows.append((sched, steps, statistics.median(times), fid))
    if args.skip_reference:
        return
    ref = rows[-1][3]
    print(f"\nrelative to {rows[-1][0]} x {rows[-1][1]} (FID {ref:.2f}):")
    for sched, steps, t, fid in rows[:-1]:
        print(f"  {sched} x {steps}: {t:.2f} s for 16 images, FID {fid:.2f} ({100 * (fid / ref - 1):+.1f} %)")


if __name__ == "__main__":
    main()
