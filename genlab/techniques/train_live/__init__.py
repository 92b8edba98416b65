"""Train live: a small DCGAN or VAE trained in the browser on Fashion-MNIST, with the sample grid, the loss
curves and the classifier's class coverage streaming as it learns — presets that collapse and presets that
do not."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S


@dataclass(frozen=True)
class Preset:
    kind: str  # "gan" or "vae"
    title: str
    watch: str  # what to look for
    loss: str = "hinge"  # gan: "hinge" or "bce" (non-saturating)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    spectral: bool = False
    d_width: int = 64
    beta: float = 1.0  # vae: KL weight (Higgins et al. 2017)


NAME = "train_live"
TITLE = "Train live"
GPU_SECONDS = 180  # ZeroGPU hold per request (genlab.ui.wiring): up to 2,000 training steps of a small GAN or VAE
PRESETS = {
    "gan-collapse": Preset(
        "gan",
        "DCGAN that collapses: the original loss, learning rate 2e-3 for both, Adam β1 = 0.9",
        "Watch the class coverage: within a few hundred steps the generator settles on one or two kinds of "
        "picture (mode collapse) and the grid fills with near-copies; the losses swing instead of settling.",
        loss="bce",
        lr_g=2e-3,
        lr_d=2e-3,
        betas=(0.9, 0.999),
    ),
    "gan-stable": Preset(
        "gan",
        "DCGAN that does not: hinge loss, spectral norm in D, TTUR (D 4e-4, G 2e-4), Adam β = (0, 0.9)",
        "Watch the coverage climb to nine or ten classes and stay there while the pictures sharpen; the "
        "discriminator's hinge loss stays bounded.",
        loss="hinge",
        lr_g=2e-4,
        lr_d=4e-4,
        betas=(0.0, 0.9),
        spectral=True,
    ),
    "vae-beta-1": Preset(
        "vae",
        "VAE with β = 1 (the evidence lower bound)",
        "Reconstruction falls fast while the KL term rises and stays well above zero (the latents carry the "
        "picture): varied, somewhat blurry samples covering most classes.",
        beta=1.0,
    ),
    "vae-beta-high": Preset(
        "vae",
        "VAE with β = 20 (KL weighted 20×)",
        "The KL term wins: it is pushed towards 0 (most latents stop carrying information: posterior collapse), "
        "reconstruction stays poor, samples blur into a few average shapes and fewer classes are covered.",
        beta=20.0,
    ),
}
DEFAULT_STEPS = {"gan-collapse": 600, "gan-stable": 1500, "vae-beta-1": 1000, "vae-beta-high": 1000}
BATCH = 64
COVERAGE_SAMPLES, COVERAGE_SHARE = 256, 0.02  # a class is covered when >= 2 % of 256 samples are judged it


@dataclass(frozen=True)
class Settings(S.Settings):
    preset: str = S.choice("gan-collapse", tuple(PRESETS), label="Preset")
    steps: int = S.integer(600, 10, 2000, step=10, label="Training steps (batch 64)")
    every: int = S.integer(50, 5, 500, step=5, label="Show the grid and coverage every N steps")
    seed: int = S.seed("Seed (initial weights and batches)")

    def check(self) -> None:
        if self.every > self.steps:
            raise ValueError(f"every ({self.every}) must not exceed steps ({self.steps}): no grid would be shown.")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Train the preset's networks for `steps` batches of 64 Fashion-MNIST pictures; every `every` steps a grid
    of 64 fixed latents, the losses and the share of 256 samples per class judged by genlab's classifier; the
    weights at the end (or at Stop) as a safetensors file to download."""
    from genlab.core.control import Control
    from genlab.techniques.train_live.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
