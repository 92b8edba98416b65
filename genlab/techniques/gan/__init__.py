"""GAN: sample a class-conditional DCGAN trained here on Fashion-MNIST, and walk its latent space."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S
from genlab.datasets import FASHION_CLASSES

NAME = "gan"
TITLE = "GAN"
GPU_SECONDS = 30  # ZeroGPU hold per request (genlab.ui.wiring): one generator pass
CLASS_CHOICES = ("any", *FASHION_CLASSES)


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("sample", ("sample", "interpolate"), label="Action")
    seed: int = S.seed("Seed (image i uses seed + i)")
    count: int = S.integer(16, 1, S.MAX_BATCH, label="Count")
    class_name: str = S.choice("any", CLASS_CHOICES, label="Class")
    truncation: float = S.number(0.0, 0.0, 4.0, step=0.1, label="Truncation (0 = off; small = typical, less varied)")
    seed_b: int = S.seed("Seed B")
    class_b: str = S.choice("any", CLASS_CHOICES, label="Class B")
    path: str = S.choice("slerp", ("slerp", "lerp"), label="Path")
    frames: int = S.integer(10, 2, S.MAX_BATCH, label="Frames")

    def check(self) -> None:
        if 0 < self.truncation < 0.1:
            raise ValueError("truncation must be 0 (off) or 0.1-4.")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Sample images (image i from seed + i), or walk from (seed, class_name) to (seed_b, class_b); with
    inputs["weights"] (a generator trained in the Train live tab) from that unconditional generator instead."""
    from genlab.core.control import Control
    from genlab.techniques.gan.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
