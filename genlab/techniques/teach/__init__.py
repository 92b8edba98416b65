"""Teach: put your own subject or style into the colour diffusion model with a few pictures — a LoRA on its
UNet's attention (DreamBooth-style, with prior preservation) or one new token embedding (textual inversion) —
trained live, with the loss and fixed-seed samples of the trigger prompt and of a class prompt that must not
change streaming as it learns."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.core import settings as S
from genlab.models.diffusion import COLOUR_MODEL, OFFLINE_MODELS
from genlab.techniques.teach.sets import SETS

NAME = "teach"
TITLE = "Teach"
GPU_SECONDS = 240  # ZeroGPU hold per request (genlab.ui.wiring): up to ~800 LoRA steps with the live grids
METHODS = ("lora", "textual inversion")
DEFAULT_LR = {"lora": 1e-3, "textual inversion": 5e-3}  # docs/measurements.md: the Teach figures
MIN_PICTURES, MAX_PICTURES = 3, 20
UPLOAD = "your pictures"
INSTANCE_BATCH = 4  # pictures per step (and as many class pictures with prior preservation)
GRID_SEEDS = 4  # columns of the live grid: the trigger prompt and the class prompt at these seeds
GRID_STEPS = 12  # DPM-Solver++ steps per live-grid picture
PRIOR_PICTURES = 8  # class pictures the model draws first for prior preservation


@dataclass(frozen=True)
class Settings(S.Settings):
    pictures: str = S.choice("tiger", (*SETS, UPLOAD), label="Pictures to teach")
    method: str = S.choice("lora", METHODS, label="Method")
    prompt: str = S.text(
        SETS["tiger"].prompt,
        max_chars=200,
        required=True,
        label="Trigger prompt",
        info="Describes your pictures and contains the token.",
    )
    token: str = S.text("sks", max_chars=20, required=True, label="Token (a word the model does not know)")
    class_prompt: str = S.text(
        SETS["tiger"].class_prompt, max_chars=200, required=True, label="Class prompt (must not change)"
    )
    rank: int = S.integer(8, 1, 64, label="LoRA rank r")
    steps: int = S.integer(200, 10, 800, step=10, label="Training steps")
    lr: float = S.number(DEFAULT_LR["lora"], 1e-5, 0.1, label="Learning rate")
    prior: bool = S.toggle(True, label="Prior preservation (DreamBooth): also train on the model's own class pictures")
    flip: bool = S.toggle(True, label="Mirror augmentation")
    every: int = S.integer(25, 5, 400, step=5, label="Show the samples every N steps")
    model: str = S.text(COLOUR_MODEL, max_chars=300, label="Model")
    seed: int = S.seed("Seed (training noise and the samples' seeds)")

    def check(self) -> None:
        import re

        from genlab.models.diffusion import check_offered

        check_offered(self.model)
        if self.model in OFFLINE_MODELS and self.model != COLOUR_MODEL:
            raise ValueError(f"Teach works on {COLOUR_MODEL} offline (or a Stable Diffusion model online).")
        if not re.fullmatch(r"[a-z0-9]{2,20}", self.token):
            raise ValueError(f"The token must be one lower-case word of letters or digits (got {self.token!r}).")
        if self.token not in re.findall(r"[a-z0-9]+", self.prompt.lower()):
            raise ValueError(
                f"The trigger prompt must contain the token {self.token!r} as a word (e.g. 'a {self.token} tiger'): "
                "it is what the model learns to answer."
            )
        if self.token in re.findall(r"[a-z0-9]+", self.class_prompt.lower()):
            raise ValueError("The class prompt must not contain the token: it shows what should not change.")
        if self.method == "textual inversion" and self.model != COLOUR_MODEL:
            raise ValueError(
                "Textual inversion is built for genlab's colour model (its MiniLM text encoder); use LoRA on hub models."
            )
        if self.every > self.steps:
            raise ValueError(f"every ({self.every}) must not exceed steps ({self.steps}): no samples would be shown.")


def run(settings: Settings, inputs: dict | None = None, ctl=None):
    """Teach the model inputs["images"] (3-20 picture files; or the built-in set named by `pictures`): a LoRA or a
    token embedding, streaming the loss and samples every `every` steps; the adapter as a safetensors file."""
    from genlab.core.control import Control
    from genlab.techniques.teach.engine import run as _run

    return _run(settings, inputs or {}, ctl or Control())
