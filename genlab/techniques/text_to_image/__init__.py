"""Prompt-to-image: diffusers pipelines (hub models, or genlab's offline model), with the denoising made visible."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S
from genlab.models.diffusion import (  # noqa: F401  (re-exported: the tab's model list and limits)
    COLOUR_MODEL,
    FASHION_MODEL,
    HUB_MODELS,
    OFFLINE_MODEL,
    OFFLINE_MODELS,
    OFFLINE_SIDE,
    OFFLINE_SIDES,
    allowed_models,
    availability,
    check_offered,
    default_model,
)

NAME = "text_to_image"
TITLE = "Prompt-to-image"
GPU_SECONDS = 120  # ZeroGPU hold per request (genlab.ui.wiring): a hub pipeline's batch or the seed x guidance grid
SCHEDULERS = ("DPM-Solver++", "DDIM", "Euler ancestral", "DDPM (ancestral)")
DEFAULT_GUIDANCE = 5.0  # follows words best offline (docs/measurements.md)
HUB_MAX_STEPS, HUB_MAX_BATCH = 150, 4
GRID_SCALES = (1.0, 2.0, 3.0, 5.0, 8.0)  # the seed x guidance grid's columns
GRID_SEEDS = 4  # and rows


def model_limits(model: str) -> tuple[int, int]:
    """(most steps, most images) a request may ask of this model."""
    return (1000, S.MAX_BATCH) if model in OFFLINE_MODELS else (HUB_MAX_STEPS, HUB_MAX_BATCH)


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("generate", ("generate", "grid", "encode"), label="Action")
    prompt: str = S.text("a red apple", max_chars=1000, required=True, label="Prompt")
    negative_prompt: str = S.text("", max_chars=1000, label="Negative prompt")
    model: str = S.text(OFFLINE_MODEL, max_chars=300, label="Model (more: GENLAB_T2I_MODELS)")
    steps: int = S.integer(20, 1, 1000, label="Steps")
    guidance: float = S.number(DEFAULT_GUIDANCE, 0.0, 30.0, step=0.5, label="Guidance w")
    scheduler: str = S.choice("DPM-Solver++", SCHEDULERS, label="Scheduler")
    seed: int = S.seed("Seed (image i uses seed + i)")
    size: int = S.integer(512, 256, 1024, step=64, label="Size (hub models; offline: 128 or 28 px)")
    batch: int = S.integer(8, 1, S.MAX_BATCH, label="Images")
    trajectory: int = S.integer(8, 2, 32, label="Trajectory frames")
    lora_scale: float = S.number(
        1.0, 0.0, 2.0, step=0.05, label="Adapter scale (0 = the base model)", info="For an adapter from the Teach tab"
    )

    @property
    def offline(self) -> bool:
        """One of genlab's own models (shipped weights, no hub)."""
        return self.model in OFFLINE_MODELS

    @property
    def pixel_space(self) -> bool:
        """Denoises pixels (the Fashion-MNIST model), not a VAE's latents."""
        return self.model == FASHION_MODEL

    @property
    def side(self) -> int:
        return OFFLINE_SIDES.get(self.model, self.size)

    def check(self) -> None:
        check_offered(self.model)
        if not self.offline and self.steps > HUB_MAX_STEPS:
            raise ValueError(f"steps must be 1-{HUB_MAX_STEPS} for hub models (got {self.steps}).")
        if not self.offline and self.batch > HUB_MAX_BATCH:
            raise ValueError(f"batch must be 1-{HUB_MAX_BATCH} for hub models (got {self.batch}).")
        if self.size % 8:
            raise ValueError(f"size must be a multiple of 8 (got {self.size}).")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """generate: the prompt's images (image i from seed + i) with the x_t / x̂0 trajectory and the schedule;
    grid: GRID_SEEDS seeds x GRID_SCALES guidance scales, sharing one request budget and Stop;
    encode: inputs["image"] through the colour model's VAE: its latents and their reconstruction."""
    from genlab.core.control import Control
    from genlab.techniques.text_to_image.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())


def decode_latents(model: str, latents: list):
    """(the VAE's pictures of an offline latent model's latents [4,h,w], None staying None; True), on the model
    thread: the scrubber's step; (the linear previews, False) while the model thread is busy."""
    from genlab.techniques.text_to_image.pipelines import decode_latents as _decode

    return _decode(model, latents)
