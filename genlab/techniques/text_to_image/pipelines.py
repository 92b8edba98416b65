"""Loading and running diffusers text-to-image pipelines: hub Stable-Diffusion-class models, or genlab's own.

Pipelines load lazily, once per model id. Every request gets its own scheduler instance and its own
lightweight pipeline object sharing the loaded modules (schedulers keep state: never share one between
requests). The denoising trajectory x_t and the predicted clean image x0_hat are recorded per step.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from genlab.core.control import Control, in_thread
from genlab.core.devices import cpu_generator
from genlab.core.images import to_pictures
from genlab.core.steps import Update
from genlab.models.diffusion import MODELS, previews, request_copy, use_adapter  # MODELS: tests patch it here
from genlab.techniques.text_to_image import Settings


@dataclass
class Trajectory:
    """What happened during one run, for the visualisation."""

    timesteps: list[int] = field(default_factory=list)  # timestep of each recorded frame
    steps: list[int] = field(default_factory=list)  # step index of each recorded frame
    xt: list[list[Image.Image]] = field(default_factory=list)  # per frame, per image: x_t preview
    x0: list[list[Image.Image]] = field(default_factory=list)  # per frame, per image: x0_hat preview
    alphas_cumprod: list[float] = field(default_factory=list)  # the scheduler's training schedule
    total: int = 0  # steps planned
    offline: bool = True  # pixel-space offline model (28 px pictures), else a latent model
    read_as: list[tuple[str, float]] = field(default_factory=list)  # offline: nearest training captions, weight
    # every step, first image only (for scrubbing through the run): timestep, x_t and x0_hat previews
    every_t: list[int] = field(default_factory=list)
    every_xt: list[Image.Image] = field(default_factory=list)
    every_x0: list[Image.Image] = field(default_factory=list)
    # latent models, first image, at each recorded frame: z_t's channels [C,h,w] (numpy) and, for genlab's
    # colour model, the VAE decode of x0_hat (what the latent means as a picture)
    channels: list[np.ndarray] = field(default_factory=list)
    decoded: list[Image.Image] = field(default_factory=list)
    # genlab's colour model: the strips' first image is the VAE's decode (not the linear preview), and the
    # scrubber decodes each step's first-image latents (z_t [4,16,16], x0_hat [4,16,16] or None) when shown
    model: str = ""
    every_latents: list[tuple[torch.Tensor, torch.Tensor | None]] = field(default_factory=list)

    @property
    def vae_views(self) -> bool:
        """The strips and the scrubber show the VAE's decodes (genlab's colour model), not linear previews."""
        return bool(self.every_latents)


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


def _request_pipeline(s: Settings, adapter: str | None = None):
    """(a pipeline object of this request's own sharing the loaded modules, its fresh scheduler, label), with
    the Teach tab's adapter file (if any) at s.lora_scale."""
    base, label = MODELS.get(s.model)
    pipe, scheduler = request_copy(base, s.scheduler)
    label += use_adapter(base, pipe, adapter, s.lora_scale)
    return pipe, scheduler, label


def _check(images: torch.Tensor) -> torch.Tensor:
    images = torch.as_tensor(images).float()
    if not torch.isfinite(images).all():
        raise ValueError(
            "The model produced NaN values (a numerical failure): try another scheduler, fewer steps or float32."
        )
    if images.amax() < 1e-3:
        raise ValueError(
            "The model produced an all-black image (numerical failure or a safety filter); nothing to show."
        )
    return images


def _vae_views(traj: Trajectory, decode) -> None:
    """Put the VAE's decodes of the recorded frames' first image (z_t and x0_hat, from every_latents) in the
    strips, the latent grid and the scrubber's cache, in place of the linear previews: one batch, faster than
    one by one."""
    kept = [traj.every_latents[i] for i in traj.steps]
    zt = [z for z, _ in kept]
    x0 = [x for _, x in kept if x is not None]
    pictures = to_pictures(decode(torch.stack(zt + x0)))
    for k, im in enumerate(pictures[: len(zt)]):
        traj.xt[k][0] = im
    traj.decoded = pictures[len(zt) :]
    for k, im in enumerate(traj.decoded):
        traj.x0[k][0] = im


def decode_latents(model: str, latents: list[torch.Tensor | None]) -> tuple[list[Image.Image | None], bool]:
    """(the VAE's pictures of an offline latent model's latents [4,h,w], None staying None; True) as one batch on
    the model thread: the scrubber's step. While the model thread runs a request, the linear previews at once
    instead (False), so scrubbing never waits for someone's run."""
    from genlab.core.control import MODEL_THREAD, model_call

    pipe, _ = MODELS.get(model)
    batch = torch.stack([z for z in latents if z is not None])
    exact = not (MODEL_THREAD.busy and not MODEL_THREAD.here())
    if exact:
        made = model_call(lambda: to_pictures(pipe.decode_latents(batch)))
    else:
        made = previews(batch, pixel_space=False, latent_rgb=getattr(pipe, "latent_rgb", None))
    pictures = iter(made)
    return [next(pictures) if z is not None else None for z in latents], exact


def generate(
    s: Settings, ctl: Control, adapter: str | None = None
) -> Generator[Update, None, tuple[list[Image.Image], Trajectory, str]]:
    """Denoise s.batch images; yields an Update per step, returns (pictures, trajectory, weights label).
    The work is not charged here (the caller charges the whole request once)."""
    pipe, scheduler, label = _request_pipeline(s, adapter)
    x0_seen = _record_x0(scheduler)
    traj = Trajectory(
        model=s.model,
        total=s.steps,
        offline=s.pixel_space,
        alphas_cumprod=[float(a) for a in getattr(scheduler, "alphas_cumprod", [])],
    )
    if getattr(pipe, "prior", None) is not None:
        traj.read_as = pipe.prior.matches(pipe.text_encoder([s.prompt])[0])
    keep = set(np.linspace(0, s.steps - 1, s.trajectory).round().astype(int).tolist())
    view = dict(pixel_space=s.pixel_space, latent_rgb=getattr(pipe, "latent_rgb", None))
    decode = pipe.decode_latents if s.offline and not s.pixel_space else None  # genlab's colour model: cheap

    def work(emit):
        def callback(p, i, t, kw):
            traj.every_t.append(int(t))
            z, x0 = kw["latents"], x0_seen[0]
            if decode is not None:  # the scrubber decodes these when it shows the step
                first = x0[0].detach().float().clone() if x0 is not None else None
                traj.every_latents.append((z[0].detach().float().clone(), first))
            else:
                traj.every_xt.append(previews(z[:1], **view)[0])
                if x0 is not None:
                    traj.every_x0.append(previews(x0[:1], **view)[0])
            if i in keep:
                traj.steps.append(i)
                traj.timesteps.append(int(t))
                traj.xt.append(previews(z, **view))
                if x0 is not None:
                    traj.x0.append(previews(x0, **view))
                if not s.pixel_space:
                    traj.channels.append(z[0].detach().float().cpu().numpy())
            emit(Update(i + 1, s.steps, "denoising", data={"trajectory": traj}))
            if ctl.halted() and s.offline:
                p.interrupt()
            elif ctl.halted():
                p._interrupt = True  # diffusers' pipelines check it before each step
            return kw

        common = dict(
            num_inference_steps=s.steps,
            guidance_scale=s.guidance,
            num_images_per_prompt=s.batch,
            output_type="pt",
            callback_on_step_end=callback,
        )
        generators = [cpu_generator(s.seed + i) for i in range(s.batch)]
        if s.offline:
            images = pipe(s.prompt, negative_prompt=s.negative_prompt, generator=generators, **common).images
            if traj.vae_views:
                _vae_views(traj, decode)
            return images
        return pipe(
            prompt=s.prompt,
            negative_prompt=s.negative_prompt or None,
            generator=generators,
            height=s.size,
            width=s.size,
            callback_on_step_end_tensor_inputs=["latents"],
            **common,
        ).images

    images = _check((yield from in_thread(work, ctl)))
    return to_pictures(images), traj, label
