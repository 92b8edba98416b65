"""Upscale: learned super-resolution (Real-ESRGAN, waifu2x) beside classical bicubic and Lanczos resizing."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S

NAME = "upscale"
TITLE = "Upscale"
GPU_SECONDS = 120  # ZeroGPU hold per request (genlab.ui.wiring): tiled Real-ESRGAN x4 at up to 36 MP
MODEL_TITLES = {
    "realesrgan-x4plus": "Real-ESRGAN x4plus (best for photos, slow)",
    "realesr-animevideov3": "Real-ESRGAN animevideov3 (fast)",
    "waifu2x-photo": "waifu2x photo ×2 (fast, optional denoising)",
}
NATIVE = {"realesrgan-x4plus": 4, "realesr-animevideov3": 4, "waifu2x-photo": 2}  # one pass scales by this
COST = {"realesrgan-x4plus": 25.0, "realesr-animevideov3": 1.0, "waifu2x-photo": 1.0}  # work per output pixel


@dataclass(frozen=True)
class Settings(S.Settings):
    model: str = S.choice(
        "realesr-animevideov3",
        tuple(MODEL_TITLES),
        label="Model",
        info="x4plus: best for photos, slow · animevideov3: fast · waifu2x: ×2 photo model with denoising",
    )
    factor: int = S.integer(4, 2, 4, label="Scale factor")
    denoise: int = S.integer(-1, -1, 3, label="waifu2x denoise level (-1 = none)")
    tile: int = S.integer(256, 64, 1024, step=32, label="Tile size (input px; smaller = less memory)")

    def check(self) -> None:
        if self.denoise >= 0 and self.model != "waifu2x-photo":
            raise ValueError(
                f"denoise levels belong to waifu2x: choose model waifu2x-photo, or denoise -1 for {self.model}."
            )


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Upscale inputs["image"] with a super-resolution network, tile by tile, and show bicubic and Lanczos
    resizing of the same size beside it."""
    from genlab.core.control import Control
    from genlab.techniques.upscale.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
