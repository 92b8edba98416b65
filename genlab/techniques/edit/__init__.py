"""Edit with diffusion: image-to-image (SDEdit), inpainting (RePaint) and outpainting, on genlab's own models
(the colour latent model, the Fashion-MNIST pixel model) and on hub Stable Diffusion pipelines online."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S
from genlab.models.diffusion import COLOUR_MODEL, FASHION_MODEL, OFFLINE_MODELS, check_offered

NAME = "edit"
TITLE = "Edit"
GPU_SECONDS = (
    120  # ZeroGPU hold per request (genlab.ui.wiring): a hub pipeline's image-to-image or RePaint inpainting at 512 px
)
ACTIONS = ("image_to_image", "inpaint", "outpaint", "sweep")
SCHEDULERS = ("DPM-Solver++", "DDIM")  # inpainting always steps with DDIM (RePaint re-noises between steps)
SWEEP = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # the strength sweep's columns
EXTEND_STEP = 32  # outpaint extents: whole latent cells of the UNet's coarsest level (8 px x 4 levels)
MAX_EXTEND = 128
HUB_SIDE = 512  # hub pipelines edit at this size
MAX_BATCH = 8


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("image_to_image", ACTIONS, label="Action")
    prompt: str = S.text("a red apple", max_chars=1000, required=True, label="Prompt")
    negative_prompt: str = S.text("", max_chars=1000, label="Negative prompt")
    model: str = S.text(COLOUR_MODEL, max_chars=300, label="Model")
    strength: float = S.number(
        0.6,
        0.0,
        1.0,
        step=0.05,
        label="Strength (image-to-image)",
        info="0 = your picture back · 1 = ignore it (text-to-image) · between: enter the schedule part-way",
    )
    steps: int = S.integer(20, 1, 150, label="Steps")
    guidance: float = S.number(5.0, 0.0, 30.0, step=0.5, label="Guidance w")
    scheduler: str = S.choice("DPM-Solver++", SCHEDULERS, label="Scheduler (image-to-image)")
    resample: int = S.integer(
        2, 1, 10, label="Resampling rounds (inpaint)", info="RePaint: more rounds blend the new part in better"
    )
    left: int = S.integer(0, 0, MAX_EXTEND, step=EXTEND_STEP, label="Extend left (px)")
    right: int = S.integer(64, 0, MAX_EXTEND, step=EXTEND_STEP, label="Extend right (px)")
    up: int = S.integer(0, 0, MAX_EXTEND, step=EXTEND_STEP, label="Extend up (px)")
    down: int = S.integer(0, 0, MAX_EXTEND, step=EXTEND_STEP, label="Extend down (px)")
    seed: int = S.seed("Seed (image i uses seed + i)")
    batch: int = S.integer(2, 1, MAX_BATCH, label="Images")
    lora_scale: float = S.number(
        1.0, 0.0, 2.0, step=0.05, label="Adapter scale (0 = the base model)", info="For an adapter from the Teach tab"
    )

    @property
    def offline(self) -> bool:
        return self.model in OFFLINE_MODELS

    @property
    def pixel_space(self) -> bool:
        return self.model == FASHION_MODEL

    @property
    def side(self) -> int:
        """The model's native picture side: the input is cropped to a square of this size."""
        return {COLOUR_MODEL: 128, FASHION_MODEL: 28}.get(self.model, HUB_SIDE)

    def check(self) -> None:
        check_offered(self.model)
        extents = (self.left, self.right, self.up, self.down)
        if any(e % EXTEND_STEP for e in extents):
            raise ValueError(
                f"Outpaint extents must be multiples of {EXTEND_STEP} px (got left {self.left}, right {self.right}, "
                f"up {self.up}, down {self.down}): the UNet works on whole {EXTEND_STEP} px cells."
            )
        if self.action == "outpaint" and not any(extents):
            raise ValueError("Choose how far to extend the picture: set left, right, up or down above 0.")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """image_to_image: inputs["image"] re-imagined from the prompt (SDEdit; strength = where the schedule is
    entered); inpaint: the painted part of inputs["editor"] (or inputs["mask"]) regenerated, the rest kept, with
    OpenCV's Telea inpainting beside it; outpaint: the canvas extended and the new area filled; sweep: one
    image-to-image per strength in SWEEP."""
    from genlab.core.control import Control
    from genlab.techniques.edit.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
