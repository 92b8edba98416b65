"""Training task for the offline text-to-image model (python -m genlab.train text2image)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel

from genlab.models.text_encoder import ENCODER, encode_texts
from genlab.techniques.text_to_image import DEFAULT_GUIDANCE
from genlab.techniques.text_to_image.fashion import FashionText2ImagePipeline, build_scheduler, build_unet
from genlab.techniques.text_to_image.prior import PRIOR_FILE, build_prior


class Text2ImageTask:
    """Training task for genlab.train: epsilon-MSE with condition dropout, EMA weights exported."""

    name = "text2image"

    def __init__(self, args, test):
        from diffusers.training_utils import EMAModel

        from genlab.techniques.text_to_image.captions import train_captions

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
        return torch.stack(
            [self.by_class[int(k)][torch.randint(len(self.by_class[int(k)]), (1,), generator=self.g)][0] for k in y]
        )

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
        from genlab.datasets import FASHION_CLASSES

        pipe = self._ema_pipeline(self.acc)
        gens = [torch.Generator().manual_seed(i) for i in range(40)]
        prompts = [c for c in FASHION_CLASSES for _ in range(4)]
        return pipe(
            prompts, num_inference_steps=20, guidance_scale=DEFAULT_GUIDANCE, generator=gens, output_type="pt"
        ).images

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
        card["caption_prior"] = {
            "captions": len(prior.texts),
            "temperature": prior.temperature,
            "leave_one_source_out_own_class_weight": score,
        }
        (export / "text2image.json").write_text(json.dumps(card, indent=2) + "\n")
