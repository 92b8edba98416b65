"""Prompt-to-image with diffusers: hub Stable-Diffusion-class pipelines, or genlab's offline model.

Pipelines load lazily, once per model id. Every request gets its own scheduler instance and its own
lightweight pipeline object sharing the loaded modules (schedulers keep state: never share one between
requests). The denoising trajectory x_t and the predicted clean image x0_hat are recorded per step.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from genlab.devices import cpu_generator, device, dtype
from genlab.limits import Deadline, check_work
from genlab.weights import LazyMap, hub_offline

OFFLINE_MODEL = "genlab Fashion-MNIST text-to-image (offline)"
HUB_MODELS = (
    "stabilityai/sd-turbo",  # 1-4 step distilled SD 2.1: the CPU-friendly hub default
    "stable-diffusion-v1-5/stable-diffusion-v1-5",  # the classic SD 1.5
    "stabilityai/sdxl-turbo",  # 1-4 step distilled SDXL (GPU)
)
SCHEDULERS = ("DPM-Solver++", "DDIM", "Euler ancestral", "DDPM (ancestral)")
MAX_PROMPT_CHARS = 1000


def default_model() -> str:
    """$GENLAB_T2I_MODEL, else the offline model (always available)."""
    return os.environ.get("GENLAB_T2I_MODEL") or OFFLINE_MODEL


@dataclass(frozen=True)
class T2ISettings:
    """One prompt-to-image request (the recipe's params)."""

    prompt: str  # what to draw
    negative_prompt: str = ""  # what to steer away from (replaces the unconditional branch of CFG)
    model: str = OFFLINE_MODEL  # OFFLINE_MODEL, a hub id or a local diffusers folder
    steps: int = 20  # denoising steps
    guidance: float = 5.0  # classifier-free guidance scale w (1 = off); 5 follows words best offline (see README)
    scheduler: str = "DPM-Solver++"  # one of SCHEDULERS
    seed: int = 0  # image i uses seed + i
    size: int = 512  # hub models: output side in px (multiple of 8); the offline model is always 28x28
    batch: int = 4  # images per request
    trajectory: int = 8  # frames kept for the strip (evenly spaced steps)

    def validate(self) -> "T2ISettings":
        offline = self.model == OFFLINE_MODEL
        checks = [
            (isinstance(self.prompt, str) and self.prompt.strip() != "", "Type a prompt: it cannot be empty."),
            (len(self.prompt) <= MAX_PROMPT_CHARS, f"The prompt is {len(self.prompt):,} characters; the limit is {MAX_PROMPT_CHARS}."),
            (len(self.negative_prompt) <= MAX_PROMPT_CHARS, f"The negative prompt is over {MAX_PROMPT_CHARS} characters."),
            (1 <= self.steps <= (1000 if offline else 150), f"steps must be 1-{1000 if offline else 150} (got {self.steps})"),
            (math.isfinite(self.guidance) and 0 <= self.guidance <= 30, f"guidance must be a number 0-30 (got {self.guidance})"),
            (self.scheduler in SCHEDULERS, f"scheduler must be one of {', '.join(SCHEDULERS)} (got {self.scheduler!r})"),
            (0 <= self.seed < 2**63, f"seed must be 0 to 2^63-1 (got {self.seed})"),
            (256 <= self.size <= 1024 and self.size % 8 == 0, f"size must be a multiple of 8 from 256 to 1024 (got {self.size})"),
            (1 <= self.batch <= (64 if offline else 4), f"batch must be 1-{64 if offline else 4} (got {self.batch})"),
            (2 <= self.trajectory <= 32, f"trajectory frames must be 2-32 (got {self.trajectory})"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        return self


def make_scheduler(name: str, config: dict):
    """A fresh scheduler instance of the named kind, from a pipeline's scheduler config."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler

    if name == "DPM-Solver++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    if name == "DDIM":  # x0 clipping (a DDPM training default) breaks DDIM's deterministic update: off
        return DDIMScheduler.from_config(config, clip_sample=False)
    if name == "Euler ancestral":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "DDPM (ancestral)":
        return DDPMScheduler.from_config(config)
    raise ValueError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}.")


def _load(model: str):
    """(pipeline, weights label) for OFFLINE_MODEL, a local diffusers folder or a hub id."""
    if model == OFFLINE_MODEL:
        from genlab import text2image
        from genlab.weights import file_sha256

        pipe = text2image.load_pipeline()
        f = Path(pipe.config._name_or_path) / "unet" / "diffusion_pytorch_model.safetensors"
        sha = file_sha256(f) if f.is_file() else "?"
        prior = f"; prompts read through its caption prior ({len(pipe.prior.texts):,} training captions)" if pipe.prior else ""
        where = "repo-shipped weights/text2image" if Path(pipe.config._name_or_path).resolve() == text2image.SHIPPED.resolve() else f"weights from {pipe.config._name_or_path}"
        return pipe, f"genlab's own model, {where} (sha256 {sha}); text: MiniLM-L6 from {pipe.text_encoder.source}{prior}"
    from diffusers import AutoPipelineForText2Image

    dev = device()
    kw = {"dtype": dtype(dev), "use_safetensors": True}
    if Path(model).is_dir():
        pipe, source = AutoPipelineForText2Image.from_pretrained(model, **kw), f"local folder {model}"
    else:
        try:
            pipe, source = AutoPipelineForText2Image.from_pretrained(model, local_files_only=True, **kw), "Hugging Face cache"
        except Exception:
            if hub_offline():
                raise ValueError(
                    f"{model} is not in the Hugging Face cache and the hub cannot be reached. "
                    f"Use '{OFFLINE_MODEL}' offline, or a local diffusers folder."
                ) from None
            try:
                pipe, source = AutoPipelineForText2Image.from_pretrained(model, **kw), "Hugging Face hub download"
            except Exception as e:
                raise ValueError(f"Could not load {model!r} from the hub ({type(e).__name__}): is the id right?") from None
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    return pipe, f"{model} — {source}, {str(kw['dtype']).replace('torch.', '')} on {dev.type}"


PIPELINES = LazyMap(_load)


def get_pipeline(model: str):
    return PIPELINES.get(model)


# Linear map from SD 1.x/2.x latents [4] to RGB [3]: a cheap preview, no VAE decode.
SD_LATENT_RGB = torch.tensor(
    [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]
)


def latents_to_rgb(latents: torch.Tensor, *, pixel_space: bool) -> list[Image.Image]:
    """[B,C,h,w] -> preview images. Pixel-space models: x in [-1,1]; latent models: linear projection."""
    x = latents.detach().float().cpu()
    if pixel_space:
        a = ((x / 2 + 0.5).clamp(0, 1) * 255).round().byte()
        return [Image.fromarray(im[0].numpy()) if im.shape[0] == 1 else Image.fromarray(im.permute(1, 2, 0).numpy()) for im in a]
    if x.shape[1] == 4:
        rgb = torch.einsum("bchw,cr->brhw", x, SD_LATENT_RGB)
    else:
        rgb = x[:, :3]
    rgb = ((rgb + 1) / 2).clamp(0, 1)
    return [Image.fromarray((im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)) for im in rgb]


@dataclass
class Trajectory:
    """What happened during one run, for the visualisation."""

    timesteps: list[int] = field(default_factory=list)  # timestep of each recorded frame
    steps: list[int] = field(default_factory=list)  # step index of each recorded frame
    xt: list[list[Image.Image]] = field(default_factory=list)  # per frame, per image: x_t preview
    x0: list[list[Image.Image]] = field(default_factory=list)  # per frame, per image: x0_hat preview
    alphas_cumprod: list[float] = field(default_factory=list)  # the scheduler's training schedule
    total: int = 0  # steps planned
    stopped: str = ""  # why the run ended early: "" (it did not), "stop" or "deadline"
    read_as: list[tuple[str, float]] = field(default_factory=list)  # offline: nearest training captions, weight


def _record_x0(scheduler) -> list:
    """Wrap this scheduler instance's step so each call's x0_hat is kept (pred_original_sample, or the
    DPM-Solver++ data prediction it stores as model_outputs[-1])."""
    seen: list = [None]
    original = scheduler.step

    def step(*args, **kwargs):
        out = original(*args, **kwargs)
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is None and getattr(scheduler, "model_outputs", None):
            x0 = scheduler.model_outputs[-1]
        seen[0] = x0
        return out

    scheduler.step = step
    return seen


def generate(
    s: T2ISettings,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_step: Callable[[int, int], None] | None = None,
    trajectory: Trajectory | None = None,
    deadline: Deadline | None = None,
) -> tuple[list[Image.Image], Trajectory, str]:
    """(images, trajectory, weights label). ValueError for NaN/black output or bad settings.

    Pass `trajectory` to watch it fill while the run goes on (on_step is called after each frame is added).
    should_stop() and the deadline are polled after every step; the work is checked before loading anything.
    """
    s.validate()
    side = 28 if s.model == OFFLINE_MODEL else s.size
    check_work(side * side * s.steps * s.batch, f"{side}x{side} px x {s.steps} steps x {s.batch} images",
               "Use fewer steps, a smaller size or a smaller batch.")  # fmt: skip
    deadline = deadline or Deadline()
    base, label = get_pipeline(s.model)
    scheduler = make_scheduler(s.scheduler, base.scheduler.config)
    pipe = type(base)(**{**base.components, "scheduler": scheduler})  # per-request pipeline, shared modules
    pipe.set_progress_bar_config(disable=True)
    offline = s.model == OFFLINE_MODEL
    x0_seen = _record_x0(scheduler)
    traj = trajectory if trajectory is not None else Trajectory()
    if getattr(base, "prior", None) is not None:
        pipe.prior = base.prior  # read-only, shared
        traj.read_as = base.prior.matches(base.text_encoder([s.prompt])[0])
    traj.total = s.steps
    traj.alphas_cumprod = [float(a) for a in getattr(scheduler, "alphas_cumprod", torch.zeros(0))]
    keep = set(np.linspace(0, s.steps - 1, s.trajectory).round().astype(int).tolist())
    generators = [cpu_generator(s.seed + i) for i in range(s.batch)]

    def callback(p, i, t, kw):
        if i in keep:
            traj.steps.append(i)
            traj.timesteps.append(int(t))
            traj.xt.append(latents_to_rgb(kw["latents"], pixel_space=offline))
            if x0_seen[0] is not None:
                traj.x0.append(latents_to_rgb(x0_seen[0], pixel_space=offline))
        if on_step:
            on_step(i + 1, s.steps)
        if not traj.stopped:
            traj.stopped = "stop" if should_stop() else "deadline" if deadline() else ""
        if traj.stopped:
            if offline:
                p.interrupt()
            else:
                p._interrupt = True
        return kw

    if offline:
        out = pipe(
            s.prompt, negative_prompt=s.negative_prompt, num_inference_steps=s.steps, guidance_scale=s.guidance,
            num_images_per_prompt=s.batch, generator=generators, output_type="pt", callback_on_step_end=callback,
        )  # fmt: skip
        images = out.images  # [B,1,28,28] in [0,1]
    else:
        gens = [torch.Generator(device="cpu").manual_seed(s.seed + i) for i in range(s.batch)]
        out = pipe(
            prompt=s.prompt, negative_prompt=s.negative_prompt or None, num_inference_steps=s.steps,
            guidance_scale=s.guidance, num_images_per_prompt=s.batch, generator=gens, height=s.size, width=s.size,
            output_type="pt", callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"],
        )  # fmt: skip
        images = out.images  # [B,3,H,W] in [0,1]
    images = torch.as_tensor(images).float()
    if not torch.isfinite(images).all():
        raise ValueError("The model produced NaN values (a numerical failure): try another scheduler, fewer steps or float32.")
    if images.amax() < 1e-3:
        raise ValueError("The model produced an all-black image (numerical failure or a safety filter); nothing to show.")
    pil = []
    for im in images:
        a = (im.clamp(0, 1) * 255).round().byte()
        pil.append(Image.fromarray(a[0].numpy()) if a.shape[0] == 1 else Image.fromarray(a.permute(1, 2, 0).numpy()))
    return pil, traj, label


# ---------------------------------------------------------------- the real CLIP tokenizer, offline


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode map (Radford et al. 2019, encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build_clip_tokenizer_files(out: Path, bpe_gz: Path | None = None) -> Path:
    """vocab.json + merges.txt for transformers' CLIPTokenizer from CLIP's bpe_simple_vocab_16e6.txt.gz
    (shipped by open-clip-torch), exactly as CLIP's simple_tokenizer builds its vocabulary."""
    if bpe_gz is None:
        import importlib.util

        spec = importlib.util.find_spec("open_clip")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("The CLIP vocabulary needs `pip install --no-deps open-clip-torch`.")
        bpe_gz = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    config = {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "do_lower_case": True}  # CLIP's context length
    (out / "tokenizer_config.json").write_text(json.dumps(config))
    return out
