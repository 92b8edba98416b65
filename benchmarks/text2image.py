"""Offline text-to-image: samplers side by side — steps x time for 16 images x FID (classifier features).

FID is computed on `--n` images per setting (class-name prompts, equal share per class) against the
10,000 test images; 1000-step DDPM ancestral sampling is the quality reference.

    python benchmarks/text2image.py [--n 1000]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genlab import classifier, data  # noqa: E402
from genlab import diffusion as dif  # noqa: E402

SETTINGS = [("DPM-Solver++", 10), ("DPM-Solver++", 15), ("DPM-Solver++", 20), ("DPM-Solver++", 25), ("DDIM", 25),
            ("Euler ancestral", 25), ("DDPM (ancestral)", 1000)]  # fmt: skip


def images(scheduler, steps, n, seed=0):
    out = []
    per = n // 10
    for k, name in enumerate(data.FASHION_CLASSES):
        for start in range(0, per, 16):
            s = dif.T2ISettings(prompt=name, steps=steps, scheduler=scheduler, batch=min(16, per - start), seed=seed + 10_000 * k + start)
            ims, _, _ = dif.generate(s)
            out.append(np.stack([np.asarray(im, dtype=np.float32) / 255 for im in ims]))
    return torch.from_numpy(np.concatenate(out))[:, None]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    clf, _ = classifier.load()
    x_test, _ = data.fashion_mnist(False)
    test_feats, _ = classifier.embed(clf, x_test)
    dif.generate(dif.T2ISettings(prompt="warm-up", steps=2, batch=2))
    print(f"torch threads: {torch.get_num_threads()}")
    print("| scheduler | steps | seconds for 16 images | FID (n=%d) |" % args.n)
    print("|---|---|---|---|")
    for sched, steps in SETTINGS:
        times = []
        for r in range(3 if steps <= 50 else 1):
            t0 = time.perf_counter()
            dif.generate(dif.T2ISettings(prompt="a pair of sneakers", steps=steps, scheduler=sched, batch=16, seed=r))
            times.append(time.perf_counter() - t0)
        feats, _ = classifier.embed(clf, images(sched, steps, args.n))
        fid = classifier.frechet_distance(feats, test_feats)
        print(f"| {sched} | {steps} | {statistics.median(times):.2f} | {fid:.2f} |", flush=True)


if __name__ == "__main__":
    main()
