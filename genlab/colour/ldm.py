"""genlab's miniature Stable Diffusion: a latent diffusion model (Rombach et al. 2022) for 128 px colour pictures.

Three parts, as in Stable Diffusion:
* text encoder: MiniLM-L6 (genlab.models.text_encoder), token features [B,24,384] for cross-attention plus the
  pooled sentence embedding [B,384] added to the timestep embedding (the UNet's projection class embedding);
* UNet: a diffusers UNet2DConditionModel on 16x16x4 latents (16 -> 8 -> 4, cross-attention at 8 and 4 px and
  in the middle), trained with the epsilon objective (Ho et al. 2020, eq. 14) and min-SNR-5 weighting
  (Hang et al. 2023), the condition dropped 10 % of the time for classifier-free guidance (Ho & Salimans 2022);
* VAE: genlab's AutoencoderKL (x8). Latents are normalised per channel, z_n = (z - latents_mean) / latents_std,
  with the statistics stored in the VAE's config (diffusers' latents_mean / latents_std fields).

The unconditional input (empty prompt, dropped caption) is all-zero token features with only the first
position attended and a zero pooled embedding.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable

import torch
from diffusers import DDPMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor

from genlab.core.devices import autocast
from genlab.core.images import to_pictures
from genlab.models.text_encoder import EMBED_DIM

MAX_TOKENS = 24
LATENT_SHAPE = (4, 16, 16)  # at 128 px
DEFAULT_GUIDANCE = 4.0


def build_unet(channels: tuple[int, ...] = (64, 128, 192), layers: int = 2, heads: int = 4) -> UNet2DConditionModel:
    """UNet for [B,4,16,16] latents; attention only at the two coarse levels (8x8, 4x4) and the middle."""
    n = len(channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=LATENT_SHAPE[1],
        in_channels=LATENT_SHAPE[0],
        out_channels=LATENT_SHAPE[0],
        block_out_channels=tuple(channels),
        layers_per_block=layers,
        down_block_types=down,
        up_block_types=up,
        mid_block_type="UNetMidBlock2DCrossAttn",
        norm_num_groups=32,
        cross_attention_dim=EMBED_DIM,
        attention_head_dim=heads,  # diffusers' legacy name: the number of heads
        class_embed_type="projection",
        projection_class_embeddings_input_dim=EMBED_DIM,
    )


def build_scheduler() -> DDPMScheduler:
    """Stable Diffusion's training schedule: 1000 steps, scaled-linear betas 0.00085..0.012, epsilon."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type="epsilon",
        clip_sample=False,
    )


def null_condition(b: int, device=None, dtype=torch.float32):
    """The unconditional input: (hidden [B,L,384] zeros, mask with only position 0, pooled zeros)."""
    h = torch.zeros(b, MAX_TOKENS, EMBED_DIM, device=device, dtype=dtype)
    m = torch.zeros(b, MAX_TOKENS, dtype=torch.bool, device=device)
    m[:, 0] = True
    return h, m, torch.zeros(b, EMBED_DIM, device=device, dtype=dtype)


def latent_stats(vae) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) [1,4,1,1] from the VAE config; identity-ish fallback: (0, 1/scaling_factor)."""
    c = vae.config
    if getattr(c, "latents_mean", None) is not None and getattr(c, "latents_std", None) is not None:
        mean = torch.tensor(c.latents_mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(c.latents_std, dtype=torch.float32).view(1, -1, 1, 1)
        return mean, std
    return torch.zeros(1, c.latent_channels, 1, 1), torch.full((1, c.latent_channels, 1, 1), 1.0 / c.scaling_factor)


def under_autocast(fn: Callable) -> Callable:
    """A pipeline method run in one autocast region (devices.autocast on the UNet's device), so the bf16 copies
    of the weights are cast once per call, not once per step (autocast drops its cache when its region ends)."""

    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        with autocast(self.unet.device):
            return fn(self, *args, **kwargs)

    return call


class ColourLDMPipeline(DiffusionPipeline):
    """Prompt -> 128x128 colour pictures. text_encoder is a SentenceEncoder, passed at load time."""

    _optional_components = ["text_encoder"]

    def __init__(self, vae, unet: UNet2DConditionModel, scheduler, text_encoder=None):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, text_encoder=text_encoder)
        self._interrupt = threading.Event()
        self.latent_rgb: torch.Tensor | None = None  # [5,3] latent -> RGB preview map (load_pipeline fits it)
        self.prior = None  # a CaptionPrior of the training names: shown ("read as"), never used to condition
        self.embedding: tuple[str, torch.Tensor] | None = None  # (token, [384]): textual inversion, per request

    # -------------------------------------------------------------- parts
    def encode_prompt(self, prompts: list[str]):
        """(hidden [B,24,384], mask [B,24], pooled [B,384]); empty prompts give the unconditional input."""
        dev, dt = self.unet.device, self.unet.dtype
        h, m, p = null_condition(len(prompts), dev, dt)
        idx = [i for i, s in enumerate(prompts) if s.strip()]
        if idx:
            if self.text_encoder is None:
                raise ValueError("This pipeline needs a text_encoder (genlab.models.text_encoder.SentenceEncoder).")
            token = self.embedding[0] if self.embedding is not None else None
            learned = [i for i in idx if token in re.findall(r"[a-z0-9]+", prompts[i].lower())] if token else []
            plain = [i for i in idx if i not in learned]
            if plain:
                th, tm, tp = self.text_encoder.tokens([prompts[i] for i in plain], MAX_TOKENS)
                h[plain], m[plain], p[plain] = th.to(dev, dt), tm.to(dev), tp.to(dev, dt)
            if learned:  # the token word stands for a learned input embedding (textual inversion)
                th, tm, tp = self.text_encoder.tokens_with([prompts[i] for i in learned], *self.embedding, MAX_TOKENS)
                h[learned], m[learned], p[learned] = th.to(dev, dt), tm.to(dev), tp.to(dev, dt)
        return h, m, p

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = latent_stats(self.vae)
        return (z - mean.to(z)) / std.to(z)

    def denormalise(self, zn: torch.Tensor) -> torch.Tensor:
        mean, std = latent_stats(self.vae)
        return zn * std.to(zn) + mean.to(zn)

    @torch.no_grad()
    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,128,128] in [-1,1] -> normalised latents [B,4,16,16] (the posterior mean)."""
        with autocast(self.vae.device):
            z = self.vae.encode(x.to(self.vae.device, self.vae.dtype)).latent_dist.mode()
        return self.normalise(z.to(self.vae.dtype))

    @torch.no_grad()
    def decode_latents(self, zn: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B,4,16,16] -> images [B,3,128,128] in [0,1]."""
        with autocast(self.vae.device):
            x = self.vae.decode(self.denormalise(zn).to(self.vae.dtype)).sample
        return (x.float() / 2 + 0.5).clamp(0, 1)

    def predict_noise(self, x, t, cond, guidance_scale: float, control=None):
        """epsilon_hat with classifier-free guidance (Ho & Salimans 2022, eq. 6); cond from _conditions.
        control = (ControlNetModel, edge map [B,1,128,128], scale) adds its residuals to the UNet's skips."""
        h, m, p = cond
        use_cfg = guidance_scale != 1.0
        xin = torch.cat([x] * 2) if use_cfg else x
        xin = self.scheduler.scale_model_input(xin, t)
        extra = {}
        with autocast(self.unet.device):
            if control is not None:
                net, image, scale = control
                image = torch.cat([image] * 2) if use_cfg else image
                down, mid = net(
                    xin,
                    t,
                    h,
                    controlnet_cond=image.to(xin),
                    conditioning_scale=scale,
                    class_labels=p,
                    return_dict=False,
                )
                extra = dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)
            eps = self.unet(xin, t, h, class_labels=p, encoder_attention_mask=m, **extra).sample
        eps = eps.to(x.dtype)  # autocast's bf16 back to the latents' dtype before guidance and the sampler
        if use_cfg:
            eps_u, eps_c = eps.chunk(2)
            eps = eps_u + guidance_scale * (eps_c - eps_u)
        return eps

    def _conditions(self, prompts: list[str], negative: str, guidance_scale: float):
        cond = self.encode_prompt(prompts)
        if guidance_scale == 1.0:
            return cond
        unc = self.encode_prompt([negative] * len(prompts))
        return tuple(torch.cat([u, c]) for u, c in zip(unc, cond))

    # -------------------------------------------------------------- text to image
    @under_autocast
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        *,
        negative_prompt: str = "",
        num_inference_steps: int = 20,
        guidance_scale: float = DEFAULT_GUIDANCE,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: tuple[str, ...] = ("latents",),
        controlnet=None,
        image: torch.Tensor | None = None,
        controlnet_conditioning_scale: float = 1.0,
        control_guidance_start: float = 0.0,
        control_guidance_end: float = 1.0,
    ) -> ImagePipelineOutput:
        """As diffusers' pipelines; with `controlnet` (a ControlNetModel for this UNet) and `image` (edge maps
        [1 or B,1,128,128] in {0,1}), the ControlNet steers the steps in [start, end) of the schedule (fractions),
        its residuals scaled by controlnet_conditioning_scale (StableDiffusionControlNetPipeline's arguments)."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
        b = len(prompts)
        if controlnet is not None:
            if image is None or image.ndim != 4 or image.shape[1] != 1 or len(image) not in (1, b):
                raise ValueError("A ControlNet call needs image: edge maps [1 or B,1,H,W].")
            if not 0.0 <= control_guidance_start < control_guidance_end <= 1.0:
                raise ValueError("control_guidance_start must be below control_guidance_end, both in [0, 1].")
            image = image.expand(b, -1, -1, -1) if len(image) == 1 else image
        cond = self._conditions(prompts, negative_prompt, guidance_scale)
        dev, dt = self.unet.device, self.unet.dtype
        if latents is None:
            latents = randn_tensor((b, *LATENT_SHAPE), generator=generator, device=dev, dtype=dt)
        self.scheduler.set_timesteps(num_inference_steps, device=dev)
        latents = latents * self.scheduler.init_noise_sigma
        self._interrupt.clear()
        self._num_timesteps = len(self.scheduler.timesteps)
        n = len(self.scheduler.timesteps)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            if self._interrupt.is_set():
                break
            on = controlnet is not None and control_guidance_start <= i / n < control_guidance_end
            control = (controlnet, image, controlnet_conditioning_scale) if on else None
            eps = self.predict_noise(latents, t, cond, guidance_scale, control)
            latents = self.scheduler.step(eps, t, latents, generator=generator).prev_sample
            if callback_on_step_end is not None:
                out = callback_on_step_end(self, i, t, {"latents": latents, "noise_pred": eps})
                latents = out.get("latents", latents)
        if output_type == "latent":
            return ImagePipelineOutput(images=latents)
        images = self.decode_latents(latents)
        if output_type == "pil":
            images = to_pictures(images)
        return ImagePipelineOutput(images=images)

    def interrupt(self) -> None:
        """Stop the running call after its current step."""
        self._interrupt.set()


# ---------------------------------------------------------------- loading
SHIPPED_NAME = "colour_ldm"
ENV_VAR = "GENLAB_COLOUR_LDM_WEIGHTS"


def shipped_dir():
    from genlab.core.weights import REPO_WEIGHTS

    return REPO_WEIGHTS / SHIPPED_NAME


PREVIEW_FILE = "latent_rgb.json"  # the shipped [5,3] preview map, fitted on real pictures' latents


@torch.no_grad()
def fit_latent_rgb(pipe: ColourLDMPipeline, n: int = 32, seed: int = 0, latents: torch.Tensor | None = None):
    """A [5,3] affine map from a normalised latent pixel (4 channels + 1) to the RGB in [-1,1] the VAE decodes
    around it (8x8 average), least squares over `latents` [N,4,16,16] (pictures' latents: what the last steps
    look like) or, without them, n N(0,1) latents: a preview of z_t without decoding (SD_LATENT_RGB's idea)."""
    z = latents if latents is not None else torch.randn(n, *LATENT_SHAPE, generator=torch.Generator().manual_seed(seed))
    x = pipe.decode_latents(z.to(pipe.vae.device, pipe.vae.dtype)).float().cpu() * 2 - 1  # [N,3,128,128]
    target = torch.nn.functional.avg_pool2d(x, 8).permute(0, 2, 3, 1).reshape(-1, 3)  # [N*256,3]
    a = torch.cat([z.float().cpu().permute(0, 2, 3, 1).reshape(-1, 4), torch.ones(len(target), 1)], 1)  # [N*256,5]
    return torch.linalg.lstsq(a, target).solution  # [5,3]


def fit_preview_file(folder: str, data: str = "~/.cache/genlab/colour128", n: int = 96, seed: int = 0) -> dict:
    """Fit the preview map on n train-split pictures' latents and write it into the pipeline folder; returns
    the mean |error| (0-255) of both maps on the model's own final latents (8 prompts, seeds 100-107)."""
    import json
    from pathlib import Path

    import numpy as np

    from genlab.colour import data as colour_data

    pipe = load_pipeline(folder)
    imgs, _ = colour_data.load_split(data, "train")
    pick = np.sort(np.random.default_rng(seed).choice(len(imgs), n, replace=False))
    x = torch.from_numpy(imgs[pick]).permute(0, 3, 1, 2).float() / 127.5 - 1
    z = torch.cat([pipe.encode_images(x[i : i + 16]) for i in range(0, n, 16)])
    fitted = fit_latent_rgb(pipe, latents=z)
    prompts = ["a red apple", "a blue car", "a green tree", "a yellow star", "a cat face", "a slice of pizza"]
    prompts += ["a house, clip art", "a purple flower"]
    gens = [torch.Generator().manual_seed(100 + i) for i in range(len(prompts))]
    zf = pipe(prompts, generator=gens, output_type="latent").images
    target = torch.nn.functional.avg_pool2d(pipe.decode_latents(zf).float() * 2 - 1, 8)

    def err(m):
        rgb = torch.einsum("bchw,cr->brhw", zf, m[:4]) + m[4].view(1, 3, 1, 1)
        return round(float((rgb.clamp(-1, 1) - target).abs().mean() * 127.5), 2)

    figures = {"random_latents_fit": err(fit_latent_rgb(pipe)), "pictures_fit": err(fitted)}
    out = {
        "map": fitted.tolist(),
        "fitted_on": f"{n} train-split pictures' latents (seed {seed})",
        "mean_abs_error_0_255": figures,
        "command": f"python -m genlab.colour.ldm --fit-preview {folder}",
    }
    (Path(folder) / PREVIEW_FILE).write_text(json.dumps(out, indent=2))
    return figures


def load_pipeline(path: str | None = None) -> ColourLDMPipeline:
    """The shipped (or given) pipeline in float32 on CPU (the caller moves it), MiniLM attached, with its
    latent-to-RGB preview map fitted."""
    import os
    from pathlib import Path

    from genlab.models.text_encoder import ENCODER

    path = path or os.environ.get(ENV_VAR) or str(shipped_dir())
    if not (Path(path) / "model_index.json").is_file():
        raise ValueError(f"No colour diffusion pipeline in {Path(path).name} (expected model_index.json there).")
    pipe = ColourLDMPipeline.from_pretrained(
        path, text_encoder=ENCODER.get(), use_safetensors=True, torch_dtype=torch.float32
    )
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.set_progress_bar_config(disable=True)
    preview = Path(path) / PREVIEW_FILE
    if preview.is_file():  # fitted on real pictures' latents (fit_preview_file)
        import json

        pipe.latent_rgb = torch.tensor(json.loads(preview.read_text())["map"], dtype=torch.float32)
    else:
        pipe.latent_rgb = fit_latent_rgb(pipe)
    from genlab.techniques.text_to_image.prior import PRIOR_FILE, CaptionPrior

    if (Path(path) / PRIOR_FILE).is_file():  # the training names, to show which ones a prompt is nearest to
        pipe.prior = CaptionPrior.load(Path(path) / PRIOR_FILE)
    return pipe


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Fit the colour pipeline's latent-to-RGB preview map")
    ap.add_argument("--fit-preview", required=True, metavar="FOLDER", help="a colour pipeline folder")
    ap.add_argument("--data", default="~/.cache/genlab/colour128")
    a = ap.parse_args()
    print(fit_preview_file(a.fit_preview, a.data))
