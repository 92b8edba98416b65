"""Editing with a diffusion model trained only for text-to-image: SDEdit and RePaint-style inpainting.

The algorithms live here, apart from the networks (diffusers' way): a `Space` adapter says how a model
encodes, decodes and predicts noise, and every request brings its own scheduler instance.

* Image-to-image, SDEdit (Meng et al. 2022): noise the input's latent z0 to the timestep where the
  schedule is entered, z_t = sqrt(ᾱ_t) z0 + sqrt(1-ᾱ_t) ε (Ho et al. 2020, eq. 4), then denoise from there.
  strength = the share of the schedule run: 0 returns the input (through the VAE), 1 starts from pure
  noise, exactly like text-to-image with the same seed.
* Inpainting for an unconditionally trained UNet (RePaint, Lugmayr et al. 2022, Alg. 1): at every step the
  known region is replaced by the input noised to that step's level, the unknown region comes from the
  model; `resample` rounds per step re-noise x_{t-1} back to x_t, q(x_t | x_{t-1}) = N(sqrt(α_t) x_{t-1},
  (1-α_t) I), so the generated part harmonises with the known part. Deterministic DDIM (η = 0) steps.
  The decoded result is composited with the input outside the mask, so those pixels are kept exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from genlab.core.devices import autocast


@dataclass
class Space:
    """What the samplers need from a model. Images are [B,C,H,W] in [-1,1]; masks [B,1,H,W], 1 = regenerate."""

    encode: Callable[[torch.Tensor], torch.Tensor]  # image -> z0 (the space diffusion runs in)
    decode: Callable[[torch.Tensor], torch.Tensor]  # z -> image in [0,1]
    eps: Callable[[torch.Tensor, torch.Tensor, tuple, float], torch.Tensor]  # (z, t, cond, w), guided
    conditions: Callable[[list[str], str, float], tuple]  # (prompts, negative, w) -> cond
    factor: int  # pixels per latent cell (8 for the VAE, 1 in pixel space)
    channels: int  # latent channels
    multiple: int  # latent sides must be multiples of this (the UNet's downsampling)
    region: Callable[[], AbstractContextManager] = nullcontext  # entered once around a request's calls (autocast)


def colour_space(pipe) -> Space:
    """genlab's ColourLDMPipeline (VAE x8, 4 channels, UNet 16 -> 8 -> 4); pipe is this request's own pipeline
    object (its scheduler is the request's)."""
    return Space(
        encode=pipe.encode_images,
        decode=pipe.decode_latents,
        eps=pipe.predict_noise,
        conditions=pipe._conditions,
        factor=8,
        channels=4,
        multiple=4,
        region=lambda: autocast(pipe.unet.device),  # bf16 on CPUs with BF16 instructions (genlab.core.devices)
    )


def fashion_space(pipe) -> Space:
    """genlab's pixel-space Fashion-MNIST pipeline (1 channel, UNet 28 -> 14 -> 7); pipe is this request's own."""

    def conditions(prompts, negative, w):
        cond = pipe.encode_prompt(prompts)
        return torch.cat([pipe.encode_prompt([negative] * len(prompts)), cond]) if w != 1.0 else cond

    def eps(z, t, emb, w):
        x = torch.cat([z] * 2) if w != 1.0 else z
        e = pipe.unet(pipe.scheduler.scale_model_input(x, t), t, emb[:, None], class_labels=emb).sample
        if w != 1.0:
            u, c = e.chunk(2)
            e = u + w * (c - u)  # Ho & Salimans 2022, eq. 6
        return e

    return Space(
        encode=lambda x: x.to(pipe.unet.device, pipe.unet.dtype),
        decode=lambda z: (z.float() / 2 + 0.5).clamp(0, 1),
        eps=eps,
        conditions=conditions,
        factor=1,
        channels=1,
        multiple=4,
    )


def latent_mask(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """[B,1,H,W] pixel mask -> [B,1,H/f,W/f]: a latent cell is regenerated when any of its pixels is (max-pool),
    so the model may repaint the whole of every cell the mask touches."""
    return F.max_pool2d(mask, factor) if factor > 1 else mask


def image_to_image(
    space: Space,
    scheduler,
    image: torch.Tensor,
    cond: tuple,
    *,
    strength: float,
    steps: int,
    guidance: float,
    generator,
    on_step: Callable[[int, int, torch.Tensor], bool] | None = None,
) -> tuple[torch.Tensor, int]:
    """SDEdit. (image [B,C,H,W] in [0,1], steps run). on_step(i, n, z) after each step; True stops."""
    z0 = space.encode(image)
    noise = randn_tensor(z0.shape, generator=generator, device=z0.device, dtype=z0.dtype)
    scheduler.set_timesteps(steps, device=z0.device)
    n = round(steps * strength)
    if n == 0:
        return space.decode(z0), 0
    start = steps - n
    timesteps = scheduler.timesteps[start * scheduler.order :]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start * scheduler.order)
    if strength >= 1.0:  # from pure noise: the same draw as text-to-image with this seed
        z = noise * scheduler.init_noise_sigma
    else:
        z = scheduler.add_noise(z0, noise, timesteps[:1].repeat(len(z0)))
    for i, t in enumerate(timesteps):
        e = space.eps(z, t, cond, guidance)
        z = scheduler.step(e, t, z, generator=generator).prev_sample
        if on_step is not None and on_step(i, len(timesteps), z):
            return space.decode(z), i + 1
    return space.decode(z), len(timesteps)


def inpaint(
    space: Space,
    scheduler,
    image: torch.Tensor,
    mask: torch.Tensor,
    cond: tuple,
    *,
    steps: int,
    guidance: float,
    resample: int,
    generator,
    on_step: Callable[[int, int, torch.Tensor], bool] | None = None,
) -> tuple[torch.Tensor, int]:
    """RePaint with DDIM steps. image [B,C,H,W] in [-1,1], mask [B,1,H,W] (1 = regenerate) -> (decoded result in
    [0,1] composited with the input outside the mask, steps run)."""
    z_known = space.encode(image)
    m = latent_mask(mask.to(z_known), space.factor)
    acp = scheduler.alphas_cumprod.to(z_known.device)
    scheduler.set_timesteps(steps, device=z_known.device)
    timesteps = scheduler.timesteps
    z = randn_tensor(z_known.shape, generator=generator, device=z_known.device, dtype=z_known.dtype)
    z = z * scheduler.init_noise_sigma

    def noise_like():
        return randn_tensor(z_known.shape, generator=generator, device=z_known.device, dtype=z_known.dtype)

    done = 0
    for i, t in enumerate(timesteps):
        t_prev = int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1
        for u in range(resample):
            e = space.eps(z, t, cond, guidance)
            z_prev = scheduler.step(e, t, z).prev_sample  # DDIM, eta 0
            known = scheduler.add_noise(z_known, noise_like(), torch.tensor([t_prev])) if t_prev >= 0 else z_known
            z_prev = m * z_prev + (1 - m) * known
            if u < resample - 1 and t_prev >= 0:  # back to x_t: q(x_t | x_{t-1}), alpha = acp_t / acp_prev
                alpha = acp[int(t)] / acp[t_prev]
                z = alpha.sqrt() * z_prev + (1 - alpha).sqrt() * noise_like()
            else:
                z = z_prev
        done = i + 1
        if on_step is not None and on_step(i, len(timesteps), z):
            break
    out = space.decode(z)
    if out.shape[-2:] != image.shape[-2:]:
        out = F.interpolate(out, size=image.shape[-2:], mode="bilinear", align_corners=False)
    keep = (image.to(out) + 1) / 2
    return mask.to(out) * out + (1 - mask.to(out)) * keep, done
