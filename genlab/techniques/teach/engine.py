"""Teach's run(): cache the pictures' latents and the prompts' features once, then train a LoRA or a token
embedding with the diffusion loss, streaming the loss and fixed-seed samples.

Objective: the model's own epsilon loss (Ho et al. 2020, eq. 14) with min-SNR-5 weights (Hang et al. 2023) on
the user's pictures under the trigger prompt; with prior preservation (DreamBooth, Ruiz et al. 2023, eq. 2) a
second term on pictures the base model drew for the class prompt, under the class prompt and the empty prompt,
whose target is the frozen base model's own prediction at the same noisy latent (the adapter switched off), so
the class and guidance's unconditional branch keep what the base model does.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from genlab.colour.ldm import MAX_TOKENS
from genlab.core.control import Control
from genlab.core.devices import cpu_generator
from genlab.core.images import open_image
from genlab.core.outputs import output_path
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.models import adapters
from genlab.techniques.teach import (
    GRID_SEEDS,
    GRID_STEPS,
    INSTANCE_BATCH,
    MAX_PICTURES,
    MIN_PICTURES,
    NAME,
    PRIOR_PICTURES,
    UPLOAD,
    Settings,
)
from genlab.techniques.teach.sets import pictures

TRAINING = "teach-training"  # the adapter's name inside the UNet while it trains
MIN_SNR = 5.0


def picture_files(s: Settings, inputs: dict) -> list[str]:
    """The files to teach: the upload (when `pictures` is UPLOAD) or the built-in set."""
    if s.pictures != UPLOAD:
        return [str(p) for p in pictures(s.pictures)]
    files = inputs.get("images") or []
    files = [f if isinstance(f, str) else getattr(f, "name", None) or str(f) for f in files]
    if len(files) < MIN_PICTURES:
        raise ValueError(
            f"Upload {MIN_PICTURES}-{MAX_PICTURES} pictures of your subject or style (got {len(files)}): "
            f"one or two are not enough to tell the subject from the picture."
        )
    if len(files) > MAX_PICTURES:
        raise ValueError(f"Upload at most {MAX_PICTURES} pictures (got {len(files)}): pick the clearest ones.")
    return files


def square(im: Image.Image, side: int) -> Image.Image:
    """Centre square crop, resized to side x side."""
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((side, side), Image.LANCZOS)


def load_pictures(files: list[str], side: int) -> list[Image.Image]:
    out = []
    for f in files:
        try:
            out.append(square(open_image(f, min_side=32), side))
        except ValueError as e:
            raise ValueError(f"Picture {len(out) + 1} of {len(files)}: {e}") from None
    return out


def to_batch(images: list[Image.Image]) -> torch.Tensor:
    """PIL pictures -> [B,3,S,S] in [-1,1]."""
    a = np.stack([np.asarray(im, np.float32) for im in images]) / 127.5 - 1
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


class Base:
    """The one code path over genlab's colour model and hub Stable Diffusion pipelines: latents, prompt
    features, the UNet's call and sampling."""

    def __init__(self, pipe, model: str):
        from diffusers import DDPMScheduler

        from genlab.colour.ldm import ColourLDMPipeline

        self.pipe, self.model = pipe, model
        self.colour = isinstance(pipe, ColourLDMPipeline)
        self.unet = pipe.unet
        self.side = 128 if self.colour else int(pipe.unet.config.sample_size * pipe.vae_scale_factor)
        self.sched = DDPMScheduler.from_config(pipe.scheduler.config)  # the training noise schedule
        ac = self.sched.alphas_cumprod
        self.snr = ac / (1 - ac)
        self.turbo = "turbo" in model.lower()

    @property
    def device(self):
        return self.unet.device

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,S,S] in [-1,1] -> the latents the UNet denoises (colour: normalised [B,4,16,16])."""
        if self.colour:
            return self.pipe.encode_images(x).float()
        vae = self.pipe.vae
        z = vae.encode(x.to(vae.device, vae.dtype)).latent_dist.mode()
        return (z * vae.config.scaling_factor).float()

    def cond(self, prompts: list[str], embedding: tuple[str, torch.Tensor] | None = None) -> dict:
        """The UNet's conditioning keyword arguments for these prompts (differentiable in embedding's vector)."""
        if self.colour:
            if embedding is None:
                with torch.no_grad():
                    h, m, p = self.pipe.encode_prompt(prompts)
            else:
                h, m, p = self.pipe.text_encoder.tokens_with(prompts, *embedding, MAX_TOKENS)
            dev, dt = self.device, self.unet.dtype
            return dict(
                encoder_hidden_states=h.to(dev, dt), class_labels=p.to(dev, dt), encoder_attention_mask=m.to(dev)
            )
        with torch.no_grad():
            emb = self.pipe.encode_prompt(prompts, self.device, 1, False)[0]
        return dict(encoder_hidden_states=emb)

    def losses(self, z: torch.Tensor, cond: dict, gen: torch.Generator, teacher_rows: int = 0) -> torch.Tensor:
        """Per-picture min-SNR-weighted diffusion losses [B] of latents z [B,C,h,w] under cond (B rows); the last
        teacher_rows rows' target is the base model's own prediction (the adapter off) instead of the noise."""
        b = len(z)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (b,), generator=gen)
        noise = torch.randn(z.shape, generator=gen)
        x = self.sched.add_noise(z, noise, t)
        dev = self.device
        xin = x.to(dev, self.unet.dtype)
        pred = self.unet(xin, t.to(dev), **cond).sample.float()
        snr = self.snr[t]
        if self.sched.config.prediction_type == "v_prediction":
            target = self.sched.get_velocity(z, noise, t)
            w = torch.clamp(snr, max=MIN_SNR) / (snr + 1)  # min-SNR-gamma for v (Hang et al. 2023)
        else:
            target = noise
            w = torch.clamp(snr, max=MIN_SNR) / snr  # min-SNR-gamma for epsilon (Hang et al. 2023, eq. 10)
        target = target.to(dev)
        if teacher_rows:
            k = b - teacher_rows
            rest = {key: v[k:] for key, v in cond.items()}
            self.unet.disable_adapters()
            try:
                with torch.no_grad():
                    taught = self.unet(xin[k:], t[k:].to(dev), **rest).sample.float()
            finally:
                self.unet.enable_adapters()
            target = torch.cat([target[:k], taught])
        return w.to(dev) * F.mse_loss(pred, target, reduction="none").mean((1, 2, 3))

    @torch.no_grad()
    def sample(self, prompt: str, seeds: list[int], embedding=None, steps: int = GRID_STEPS) -> list[Image.Image]:
        """Pictures of `prompt` at these seeds with the UNet as it is now (its training adapter included)."""
        from genlab.models.diffusion import make_scheduler

        sched = make_scheduler("DPM-Solver++", self.pipe.scheduler.config)
        pipe = type(self.pipe)(**{**self.pipe.components, "scheduler": sched})
        pipe.set_progress_bar_config(disable=True)
        gens = [cpu_generator(s) for s in seeds]
        if self.colour:
            pipe.embedding = embedding
            return pipe([prompt] * len(seeds), num_inference_steps=steps, generator=gens).images
        kw = dict(num_inference_steps=2, guidance_scale=0.0) if self.turbo else dict(num_inference_steps=25)
        return pipe(prompt=[prompt] * len(seeds), generator=gens, height=self.side, width=self.side, **kw).images


def repeat(cond: dict, n: int) -> dict:
    """A one-row condition repeated to n rows."""
    return {k: v.expand(n, *v.shape[1:]) for k, v in cond.items()}


def cat(a: dict, b: dict) -> dict:
    return {k: torch.cat([a[k], b[k]]) for k in a}


def grid(rows: list[tuple[str, list[Image.Image]]], cell: int = 128) -> Image.Image:
    """Rows of pictures, each row labelled with its prompt above it."""
    band = 18
    n = max(len(r[1]) for r in rows)
    out = Image.new("RGB", (n * cell, len(rows) * (cell + band)), (24, 24, 24))
    draw = ImageDraw.Draw(out)
    for i, (label, ims) in enumerate(rows):
        y = i * (cell + band)
        draw.text((4, y + 3), label[:80], fill=(255, 220, 0))
        for j, im in enumerate(ims):
            out.paste(im.convert("RGB").resize((cell, cell), Image.LANCZOS), (j * cell, y + band))
    return out


def _init_vector(base: Base, s: Settings) -> torch.Tensor:
    """Textual inversion's start: the mean input embedding of the class prompt's last word (Gal et al. 2022
    start from a coarse descriptor), a copy that trains."""
    enc = base.pipe.text_encoder
    table = enc.model.get_input_embeddings().weight
    word = (s.class_prompt.split() or [s.token])[-1]
    ids = enc.word_pieces(word) or enc.word_pieces(s.token)
    return table[ids].mean(0).detach().clone().float()


def run(s: Settings, inputs: dict, ctl: Control):
    from genlab.models import diffusion

    files = picture_files(s, inputs)
    batch = INSTANCE_BATCH * (2 if s.prior and s.method == "lora" else 1)
    n_grids = s.steps // s.every + 2
    side_work = 128 * 128
    ctl.charge(
        s.steps * batch * side_work + n_grids * 2 * GRID_SEEDS * GRID_STEPS * side_work,
        f"{s.steps} steps of {batch} pictures and {n_grids} sample grids",
        "Use fewer steps, or show the samples less often.",
    )
    yield Update(0, s.steps, f"loading {s.model} (first use only)")
    pipe, label = diffusion.MODELS.get(s.model)
    base = Base(pipe, s.model)
    _halt(ctl)
    sha = diffusion.unet_sha(pipe)
    adapters.apply(base.unet, None, 1.0)  # the base model: no adapter from another request
    ims = load_pictures(files, base.side)
    _halt(ctl)
    yield Update(0, s.steps, f"encoding your {len(ims)} pictures and the prompts (once)")
    x = to_batch(ims)
    z = base.latents(x)  # [N,C,h,w]
    z_flip = base.latents(x.flip(-1)) if s.flip else None
    trigger_cond = base.cond([s.prompt]) if s.method == "lora" else None
    class_cond = base.cond([s.class_prompt])
    empty_cond = base.cond([""])
    grid_seeds = [s.seed + i for i in range(GRID_SEEDS)]
    t0 = time.perf_counter()
    _halt(ctl)
    yield Update(0, s.steps, "the samples before teaching (step 0)")
    before_trigger = base.sample(s.prompt, grid_seeds)
    before_class = base.sample(s.class_prompt, grid_seeds)
    first = grid([(f"step 0 · {s.prompt}", before_trigger), (f"step 0 · {s.class_prompt}", before_class)])
    losses: list[dict] = []
    yield Update(
        0, s.steps, f"first samples after {time.perf_counter() - t0:.1f} s", preview=first, data={"losses": losses}
    )
    prior_z = None
    if s.prior and s.method == "lora":  # after the first grid: the person sees the samples while these are drawn
        _halt(ctl)
        yield Update(0, s.steps, f"drawing {PRIOR_PICTURES} pictures of {s.class_prompt!r} for prior preservation")
        seeds = [s.seed + 1000 + i for i in range(PRIOR_PICTURES)]
        prior_z = base.latents(to_batch([im.convert("RGB") for im in base.sample(s.class_prompt, seeds, steps=20)]))
    gen = torch.Generator().manual_seed(s.seed)
    vector = None
    torch.manual_seed(s.seed)  # peft's gaussian init of lora_A
    if s.method == "lora":
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        grads_before = {n: p.requires_grad for n, p in base.unet.named_parameters()}
        base.unet.requires_grad_(False)
        base.unet.add_adapter(LoraConfig(init_lora_weights="gaussian", **adapters.lora_config(s.rank)), TRAINING)
        base.unet.set_adapters([TRAINING], [1.0])
        cast_training_params(base.unet, torch.float32)
        params = [p for p in base.unet.parameters() if p.requires_grad]
    else:
        vector = _init_vector(base, s).requires_grad_(True)
        params = [vector]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0 if vector is not None else 1e-2)
    done, after_trigger, after_class = 0, before_trigger, before_class  # the latest samples
    try:
        for i in range(s.steps):
            if ctl.halted():
                break
            idx = torch.randint(0, len(z), (INSTANCE_BATCH,), generator=gen)
            zi = z[idx]
            if z_flip is not None:
                flip = torch.rand(INSTANCE_BATCH, generator=gen) < 0.5
                zi = torch.where(flip.view(-1, 1, 1, 1), z_flip[idx], zi)
            cond = trigger_cond if vector is None else base.cond([s.prompt], (s.token, vector))
            cond = repeat(cond, INSTANCE_BATCH)
            if prior_z is not None:  # one batch: your pictures under the trigger; the model's class pictures under
                # the class prompt and the empty prompt (guidance's unconditional branch), taught to predict what
                # the base model predicts for them
                pidx = torch.randint(0, len(prior_z), (INSTANCE_BATCH,), generator=gen)
                half = INSTANCE_BATCH // 2
                prior_cond = cat(repeat(class_cond, INSTANCE_BATCH - half), repeat(empty_cond, half))
                zi, cond = torch.cat([zi, prior_z[pidx]]), cat(cond, prior_cond)
            per = base.losses(zi, cond, gen, INSTANCE_BATCH if prior_z is not None else 0)
            loss = per[:INSTANCE_BATCH].mean()
            row = {"step": i + 1, "loss": round(loss.item(), 5), "curve": "your pictures"}
            losses.append(row)
            if prior_z is not None:
                ploss = per[INSTANCE_BATCH:].mean()
                losses.append({"step": i + 1, "loss": round(ploss.item(), 5), "curve": "class pictures (prior)"})
                # DreamBooth's prior term, weight lambda = 1 (Ruiz et al. 2023, eq. 2), its target the frozen model's
                # prediction instead of the sampled noise (docs/measurements.md: the noise target moved the class)
                loss = loss + ploss
            warm = min(1.0, (i + 1) / 20)  # 20-step warm-up
            for g in opt.param_groups:
                g["lr"] = s.lr * warm
            opt.zero_grad(set_to_none=True)
            if vector is not None:  # only the embedding: nothing is written into the shared networks' .grad
                (vector.grad,) = torch.autograd.grad(loss, [vector])
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            done = i + 1
            if done % s.every == 0 or done == s.steps:
                emb = None if vector is None else (s.token, vector.detach())
                after_trigger = base.sample(s.prompt, grid_seeds, emb)
                after_class = base.sample(s.class_prompt, grid_seeds, emb)
                latest = grid(
                    [(f"step {done} · {s.prompt}", after_trigger), (f"step {done} · {s.class_prompt}", after_class)]
                )
                rate = done / (time.perf_counter() - t0)
                yield Update(
                    done,
                    s.steps,
                    f"{rate:.1f} steps/s · loss {row['loss']:.3f}",
                    preview=latest,
                    data={"losses": losses},
                )
            elif done % 5 == 0:
                yield Update(done, s.steps, "teaching", data={"losses": losses})
        info = {
            "base_model": s.model,
            "token": s.token,
            "prompt": s.prompt,
            "class_prompt": s.class_prompt,
            "steps": done,
            "seed": s.seed,
            "lr": s.lr,
            "prior": s.prior,
            "flip": s.flip,
            "pictures": len(ims),
            "pictures_from": s.pictures,
        }
        path = output_path(f"teach-{s.token}", ".safetensors")
        if vector is None:
            adapters.save_lora(path, base.unet, TRAINING, sha, s.rank, info)
        else:
            adapters.save_embedding(path, vector, sha, info)
    finally:
        if vector is None:
            base.unet.unload_lora()  # the original layers back: the shared UNet is as it was
            for n, p in base.unet.named_parameters():
                p.requires_grad_(grads_before.get(n, False))
    adapter = adapters.read(path, base=sha, unet=base.unet, embed_dim=adapters.embed_dim(base.pipe.text_encoder))
    comparison = grid(
        [
            (f"before · {s.prompt}", before_trigger),
            (f"after {done} steps · {s.prompt}", after_trigger),
            (f"before · {s.class_prompt}", before_class),
            (f"after {done} steps · {s.class_prompt}", after_class),
        ]
    )
    weights = f"{label}; taught: {adapter.label()}"
    recipe = make_recipe(NAME, s.params(), weights=weights, seed=s.seed)
    elapsed = time.perf_counter() - t0
    what = f"LoRA rank {s.rank}" if vector is None else "textual inversion (one token embedding)"
    size = Path(path).stat().st_size
    info_md = (
        f"**{what}** taught on {len(ims)} pictures: {done}/{s.steps} steps in {elapsed:.0f} s"
        f"{ctl.note()}. Adapter **{size / 1024:,.0f} KB**, sha256 {adapter.sha}. "
        f"Top row: the trigger prompt should now draw your subject; bottom row: the class prompt should look as "
        f"before. Press **Use in Prompt-to-image** (or Edit) to draw with it, with a LoRA scale."
    )
    data = {"losses": losses, "adapter": str(path), "sha": adapter.sha}
    yield Result([comparison], [recipe], info_md, ["before and after, same seeds"], data, ctl.reason)


def _halt(ctl: Control) -> None:
    if ctl.halted():
        raise ValueError("Stopped before teaching began: nothing was learned yet.")
