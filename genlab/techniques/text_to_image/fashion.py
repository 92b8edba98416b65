"""genlab's own text-to-image model: pixel-space diffusion on Fashion-MNIST, conditioned on MiniLM.

A diffusers UNet2DConditionModel (28x28x1) denoises, conditioned on the mean-pooled, L2-normalised
MiniLM-L6 sentence embedding [B,384] through the UNet's projection class embedding (added to the
timestep embedding, so it modulates every ResNet block). Trained with the epsilon objective of DDPM
(Ho et al. 2020, eq. 14), with the condition dropped 10% of the time for classifier-free guidance
(Ho & Salimans 2022). Any diffusers scheduler samples it; the pipeline is a DiffusionPipeline.
At sampling time a CaptionPrior (shipped beside the weights) projects each prompt's embedding onto the
training captions, so a person's own words reach the UNet through captions it was trained on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import DDPMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor

from genlab.core.images import to_pictures
from genlab.core.weights import REPO_WEIGHTS
from genlab.models.text_encoder import EMBED_DIM, ENCODER
from genlab.techniques.text_to_image import DEFAULT_GUIDANCE
from genlab.techniques.text_to_image.prior import PRIOR_FILE, CaptionPrior

SHIPPED = REPO_WEIGHTS / "text2image"
ENV_VAR, LEGACY_ENV_VAR = "GENLAB_TEXT_TO_IMAGE_WEIGHTS", "GENLAB_TEXT2IMAGE"


def build_unet(*, channels: tuple[int, ...] = (16, 32, 64)) -> UNet2DConditionModel:
    """A small attention-free UNet for [B,1,28,28] (28 -> 14 -> 7), conditioned via class embedding."""
    return UNet2DConditionModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        block_out_channels=channels,
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * len(channels),
        up_block_types=("UpBlock2D",) * len(channels),
        mid_block_type="UNetMidBlock2D",
        norm_num_groups=8,
        cross_attention_dim=EMBED_DIM,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=EMBED_DIM,
    )


def build_scheduler() -> DDPMScheduler:
    """The training noise schedule: 1000 steps, cosine (Nichol & Dhariwal 2021), epsilon prediction."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")


class FashionText2ImagePipeline(DiffusionPipeline):
    """Prompt -> 28x28 Fashion-MNIST-style images. text_encoder is a SentenceEncoder, passed at load time."""

    _optional_components = ["text_encoder"]

    def __init__(self, unet: UNet2DConditionModel, scheduler, text_encoder=None):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder)
        self._interrupt = threading.Event()
        self.prior: CaptionPrior | None = None  # set by load_pipeline when the weights ship one

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """[B,384]; the empty string maps to the unconditional (zero) embedding used in training; with a
        prior, other prompts are projected onto the training captions (CaptionPrior.project)."""
        if self.text_encoder is None:
            raise ValueError("This pipeline needs a text_encoder (genlab.models.text_encoder.SentenceEncoder).")
        emb = torch.zeros(len(prompts), EMBED_DIM)
        idx = [i for i, p in enumerate(prompts) if p.strip()]
        if idx:
            emb[idx] = self.text_encoder([prompts[i] for i in idx]).float()
            if self.prior is not None:
                emb[idx] = self.prior.project(emb[idx])
        return emb.to(self.unet.device, self.unet.dtype)

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
        output_type: str = "pil",
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: tuple[str, ...] = ("latents",),
    ) -> ImagePipelineOutput:
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
        b = len(prompts)
        cond = self.encode_prompt(prompts)  # [B,384]
        uncond = self.encode_prompt([negative_prompt] * b)  # [B,384]
        use_cfg = guidance_scale != 1.0
        emb = torch.cat([uncond, cond]) if use_cfg else cond
        latents = randn_tensor((b, 1, 28, 28), generator=generator, device=self.unet.device, dtype=self.unet.dtype)
        self.scheduler.set_timesteps(num_inference_steps)
        latents = latents * self.scheduler.init_noise_sigma
        self._interrupt.clear()
        self._num_timesteps = len(self.scheduler.timesteps)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            if self._interrupt.is_set():
                break
            x = torch.cat([latents] * 2) if use_cfg else latents
            x = self.scheduler.scale_model_input(x, t)
            eps = self.unet(x, t, emb[:, None], class_labels=emb).sample  # [2B,1,28,28]
            if use_cfg:
                eps_u, eps_c = eps.chunk(2)
                eps = eps_u + guidance_scale * (eps_c - eps_u)  # Ho & Salimans 2022, eq. 6
            latents = self.scheduler.step(eps, t, latents, generator=generator).prev_sample
            if callback_on_step_end is not None:
                out = callback_on_step_end(self, i, t, {"latents": latents, "noise_pred": eps})
                latents = out.get("latents", latents)
        images = (latents.float() / 2 + 0.5).clamp(0, 1)  # [B,1,28,28]
        if output_type == "pil":
            images = to_pictures(images)
        return ImagePipelineOutput(images=images)

    def interrupt(self) -> None:
        """Stop the running call after its current step."""
        self._interrupt.set()


def load_pipeline(path: str | None = None) -> FashionText2ImagePipeline:
    """The shipped (or given) pipeline on CPU in float32, with the MiniLM encoder attached."""
    path = path or os.environ.get(ENV_VAR) or os.environ.get(LEGACY_ENV_VAR) or str(SHIPPED)
    if not (Path(path) / "model_index.json").is_file():
        raise ValueError(f"No text-to-image pipeline in {Path(path).name} (expected model_index.json there).")
    pipe = FashionText2ImagePipeline.from_pretrained(path, text_encoder=ENCODER.get(), use_safetensors=True)
    if (Path(path) / PRIOR_FILE).is_file():
        pipe.prior = CaptionPrior.load(Path(path) / PRIOR_FILE)
    return pipe
