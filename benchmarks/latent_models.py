"""Sampling speed of the shipped GAN and VAE: 64 samples once loaded (median of repeated runs).

python benchmarks/latent_models.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genlab.techniques.gan import model as gan
from genlab.techniques.vae import model as vae


def timed(fn, repeats=20) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    g, _ = gan.load()
    m, _ = vae.load("vae")
    seeds = list(range(64))
    print(f"torch threads: {torch.get_num_threads()}")
    ms = timed(lambda: gan.generate(g, gan.latents(seeds, g.cfg.z_dim), g.embed(gan.seed_labels(seeds, 10))))
    print(f"DCGAN: 64 samples (seeded latents + generator) in {ms:.1f} ms")
    ms = timed(lambda: vae.decode(m, vae.prior_latents(seeds, m.cfg.latent)))
    print(f"VAE:   64 samples (seeded latents + decoder) in {ms:.1f} ms")


if __name__ == "__main__":
    main()
