"""Style transfer: Gatys et al. (2016) optimisation on ImageNet VGG features, and a fast feed-forward mode."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S

NAME = "style_transfer"
TITLE = "Style transfer"
GPU_SECONDS = 120  # ZeroGPU hold per request (genlab.ui.wiring): L-BFGS on VGG at up to 1024 px
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys et al. 2016, sec. 2
OPTIMIZERS = ("lbfgs", "lbfgs-wolfe", "adam")
# "Stylisation strength" s in [0, 1] sets the style weight beta = BETA_AT_0 * BETA_RANGE**s (log scale): s = 0 gives
# 0.5, barely more than the photo's colours; the default 0.5 gives 5, which brings the output's Gram style loss to
# <= 0.1x the photo's own on held-out pairs (docs/measurements.md); 1 gives 50, where the subject starts to dissolve.
BETA_AT_0, BETA_RANGE, DEFAULT_STYLISATION = 0.5, 100.0, 0.5


def style_weight_for(stylisation: float) -> float:
    """The style weight beta for a stylisation strength in [0, 1] (the UI's simple control)."""
    if not 0.0 <= stylisation <= 1.0:
        raise ValueError(f"stylisation strength must be a number from 0 to 1 (got {stylisation!r}).")
    return round(BETA_AT_0 * BETA_RANGE**stylisation, 4)


def _layer_weight(layer: str):
    return S.number(1.0, 0.0, 10.0, step=0.1, label=f"{layer} weight")


@dataclass(frozen=True)
class Settings(S.Settings):
    action: str = S.choice("gatys", ("gatys", "fast"), label="Method")
    size: int = S.integer(512, 128, 1024, step=32, label="Output size (long side, px)")
    steps: int = S.integer(14, 1, 1000, label="Iterations at full size")
    content_weight: float = S.number(1.0, 0.0, 1e9, label="Content weight α")
    style_weight: float = S.number(
        style_weight_for(DEFAULT_STYLISATION), 0.0, 1e9, label="Style weight β (the strength slider sets it)"
    )
    tv_weight: float = S.number(1e-3, 0.0, 1e9, label="TV weight")
    optimizer: str = S.choice(
        "lbfgs",
        OPTIMIZERS,
        label="Optimiser (lbfgs-wolfe: the textbook's line search, several evaluations per iteration)",
    )
    init: str = S.choice("content", ("content", "noise"), label="Start from")
    preserve_colors: bool = S.toggle(False, label="Preserve content colours (luminance-only transfer)")
    style_scale: float = S.number(1.0, 0.25, 2.0, step=0.05, label="Style image scale")
    style_blend: float = S.number(1.0, 0.0, 1.0, step=0.05, label="Share of the first style")
    levels: int = S.integer(2, 1, 4, label="Levels (1 = single scale, textbook)")
    coarse_steps: int = S.integer(30, 0, 1000, label="Iterations per coarser level")
    seed: int = S.seed("Seed (noise init)")
    weight_relu1_1: float = _layer_weight("relu1_1")
    weight_relu2_1: float = _layer_weight("relu2_1")
    weight_relu3_1: float = _layer_weight("relu3_1")
    weight_relu4_1: float = _layer_weight("relu4_1")
    weight_relu5_1: float = _layer_weight("relu5_1")
    strength: float = S.number(1.0, 0.0, 1.0, step=0.05, label="Style strength (fast mode)")

    @property
    def layer_weights(self) -> tuple[float, ...]:
        return tuple(getattr(self, f"weight_{k}") for k in STYLE_LAYERS)


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Stylise inputs["content"] with inputs["style"] (and an optional inputs["style2"] to blend):
    Gatys optimisation streaming previews and losses, or one pass of the fast network."""
    from genlab.core.control import Control
    from genlab.techniques.style_transfer.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
