"""Deep Dream (Mordvintsev, Olah & Tyka 2015, "Inceptionism"): gradient ascent on an image to amplify what a
chosen layer (or one channel of it) of an ImageNet VGG responds to, over several octaves (scales)."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S

NAME = "deep_dream"
TITLE = "Deep Dream"
GPU_SECONDS = 90  # ZeroGPU hold per request (genlab.ui.wiring): octaves of gradient ascent at up to 1024 px
# VGG16 block widths (VGG19 has these layers too): relu3_x 256 channels, relu4_x and relu5_x 512
LAYERS = {f"relu{b}_{i}": 256 if b == 3 else 512 for b in (3, 4, 5) for i in (1, 2, 3)}
GALLERY_CHANNELS = 8  # channels shown by the "what single channels amplify" gallery


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("dream", ("dream", "channels"), label="Action")
    start: str = S.choice("upload", ("upload", "noise"), label="Start from")
    layer: str = S.choice(
        "relu4_2",
        tuple(LAYERS),
        label="Layer to amplify",
        info="relu3: strokes and textures · relu4: eyes, fur, scales · relu5: object parts",
    )
    channel: int = S.integer(-1, -1, 511, label="Channel (-1 = the whole layer)")
    size: int = S.integer(512, 64, 1024, step=32, label="Size (long side, px)")
    octaves: int = S.integer(3, 1, 8, label="Octaves (scales, smallest first)")
    octave_scale: float = S.number(1.4, 1.1, 2.0, step=0.05, label="Octave scale (size ratio between octaves)")
    iterations: int = S.integer(10, 1, 200, label="Iterations per octave")
    step_size: float = S.number(0.006, 0.001, 0.1, step=0.001, label="Step size (mean change per pixel)")
    jitter: int = S.integer(32, 0, 128, label="Jitter (random shift per step, px)")
    smoothing: float = S.number(0.5, 0.0, 4.0, step=0.1, label="Gradient smoothing (Gaussian σ, px)")
    seed: int = S.seed("Seed (jitter and noise start)")

    def check(self) -> None:
        width = LAYERS[self.layer]
        if self.channel >= width:
            raise ValueError(f"{self.layer} has {width} channels (0-{width - 1}); got channel {self.channel}.")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Dream on inputs["image"] (or on noise): amplify a VGG layer's activations over octaves, streaming a
    preview per octave; or the "channels" gallery of what single channels of the layer amplify."""
    from genlab.core.control import Control
    from genlab.techniques.deep_dream.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
