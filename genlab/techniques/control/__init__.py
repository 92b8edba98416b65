"""Control: draw the lines, and the colour model fills them in — a ControlNet (Zhang et al. 2023) trained here
on the edges of the colour model's pictures; the same prompt without control beside it, at the same seeds."""

from __future__ import annotations

import os
from dataclasses import dataclass

from genlab.core import settings as S
from genlab.models.diffusion import COLOUR_MODEL

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # online: lllyasviel's public SD 1.5 ControlNets fit it
HUB_CONTROLNETS = {  # source -> the public SD 1.5 ControlNet trained on that kind of map (Zhang et al. 2023)
    "lines": "lllyasviel/sd-controlnet-scribble",
    "edges": "lllyasviel/sd-controlnet-canny",
    "contours": "lllyasviel/sd-controlnet-scribble",  # HED's thinned lines: as its training scribbles were made
    "soft edges": "lllyasviel/sd-controlnet-hed",
}
HUB_MAX_STEPS, HUB_MAX_BATCH = 100, 4
# ControlNet strength (its residuals' scale) a request starts at: the colour model's ControlNets', each chosen on
# validation pictures by `python benchmarks/control.py [--cond hed] --choose` (weights/colour_controlnet[_hed].json
# "strength_choice"; a test keeps them equal), the public SD 1.5 ControlNets' own 1.0
COLOUR_STRENGTH, HED_STRENGTH, HUB_STRENGTH = 3.0, 3.0, 1.0

NAME = "control"
TITLE = "Control"
GPU_SECONDS = 60  # ZeroGPU hold per request (genlab.ui.wiring): two batches of the colour model
# lines: the drawing's strokes are the map; edges: Canny edges of the picture; contours: HED's outlines of it,
# thinned to lines; soft edges: HED's outlines as they are, for the ControlNets trained on them
SOURCES = ("lines", "edges", "contours", "soft edges")
HED_SOURCES = ("contours", "soft edges")  # the sources whose map comes from HED
COLOUR_KINDS = {"lines": "canny", "edges": "canny", "contours": "canny", "soft edges": "hed"}  # source -> the
# colour model's ControlNet reading it: the Canny-trained one (thin lines on black, as its scribble-augmented
# training maps) or the HED-trained one
MAX_BATCH = 8
SIDE = 128  # the colour model's picture side


@dataclass(frozen=True)
class Settings(S.Settings):
    prompt: str = S.text("a red apple", max_chars=1000, required=True, label="Prompt")
    negative_prompt: str = S.text("", max_chars=1000, label="Negative prompt")
    source: str = S.choice(
        "lines",
        SOURCES,
        label="The picture gives",
        info="lines: your strokes (dark on white) are the edge map · edges: the Canny edges of a photo or drawing "
        "· contours: the outlines HED (a network trained on outlines people drew) finds in a photo, as lines "
        "· soft edges: HED's outlines as they are, for a ControlNet trained on them",
    )
    strength: float = S.number(
        COLOUR_STRENGTH,
        0.0,
        4.0,
        step=0.05,
        label="Control strength",
        info=f"0 = no control · 1 = the scale it trained at · {COLOUR_STRENGTH:g}: the colour model's default "
        f"(chosen on validation pictures) · SD 1.5: {HUB_STRENGTH:g}",
    )
    start: float = S.number(0.0, 0.0, 1.0, step=0.05, label="Control from (share of the steps)")
    end: float = S.number(1.0, 0.0, 1.0, step=0.05, label="Control until (share of the steps)")
    steps: int = S.integer(20, 1, 200, label="Steps")
    guidance: float = S.number(5.0, 0.0, 30.0, step=0.5, label="Guidance w")
    seed: int = S.seed("Seed (image i uses seed + i)")
    batch: int = S.integer(4, 1, MAX_BATCH, label="Images")
    compare: bool = S.toggle(True, label="Also draw the prompt without control (same seeds)")

    model: str = S.text(COLOUR_MODEL, max_chars=300, label="Model (online: SD 1.5 with the public ControlNets)")

    @property
    def offline(self) -> bool:
        return self.model == COLOUR_MODEL

    def check(self) -> None:
        if self.model not in models():
            raise ValueError(
                f"Model {self.model[:80]!r} is not offered in Control: pick {COLOUR_MODEL!r} (offline) or "
                f"{SD15!r} (online). Whoever runs the app can add SD 1.5-type ids or folders with GENLAB_T2I_MODELS."
            )
        if not self.offline and self.steps > HUB_MAX_STEPS:
            raise ValueError(f"steps must be 1-{HUB_MAX_STEPS} for hub models (got {self.steps}).")
        if not self.offline and self.batch > HUB_MAX_BATCH:
            raise ValueError(f"batch must be 1-{HUB_MAX_BATCH} for hub models (got {self.batch}).")
        if self.start >= self.end:
            raise ValueError(
                f"Control from ({self.start:g}) must be below Control until ({self.end:g}): the ControlNet acts on "
                "the steps between them."
            )


def default_strength(model: str, source: str = "lines") -> float:
    """The strength a request on this model and source starts at (the colour model's soft edges: its HED
    ControlNet)."""
    if model != COLOUR_MODEL:
        return HUB_STRENGTH
    return {"canny": COLOUR_STRENGTH, "hed": HED_STRENGTH}[COLOUR_KINDS[source]]


def models() -> list[str]:
    """The colour model (its ControlNet trained here), SD 1.5, and the SD 1.5-type ids or local folders whoever
    runs the app names in $GENLAB_T2I_MODELS (their ControlNet: $GENLAB_HUB_CONTROLNET, else HUB_CONTROLNETS)."""
    extra = [m.strip() for m in os.environ.get("GENLAB_T2I_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys([COLOUR_MODEL, SD15, *extra]))


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """The edge map from inputs["sketch"] (a gr.ImageEditor value or a picture path; `source` says how), then
    s.batch pictures of the prompt with the ControlNet and, with `compare`, as many without it."""
    from genlab.core.control import Control
    from genlab.techniques.control.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
