"""Compare: genlab's DCGAN, VAE and Fashion-MNIST diffusion model side by side on the same request — samples,
speed, what the classifier judges them to be, FID from the cards, and a latent walk for each."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S
from genlab.datasets import FASHION_CLASSES

NAME = "compare"
TITLE = "Compare"
GPU_SECONDS = 90  # ZeroGPU hold per request (genlab.ui.wiring): three models, 16 samples each and their walks
CLASSES = ("any", *FASHION_CLASSES)


@dataclass(frozen=True)
class Settings(S.Settings):
    class_name: str = S.choice(
        "any", CLASSES, label="Class", info="'any': each sample's class drawn at random (the VAE cannot be asked)"
    )
    count: int = S.integer(16, 1, 32, label="Samples per technique")
    seed: int = S.seed("Seed (sample i uses seed + i, for every technique)")
    frames: int = S.integer(8, 3, 16, label="Latent walk frames")
    steps: int = S.integer(20, 1, 100, label="Diffusion steps (DPM-Solver++)")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """The three techniques draw `count` samples each of the class (seed + i), then walk between two seeds:
    DCGAN slerp, VAE lerp, diffusion: slerp of the initial noise and lerp of the text embedding; the table of
    trade-offs is built from the figures measured here and the FIDs in the shipped cards."""
    from genlab.core.control import Control
    from genlab.techniques.compare.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
