"""Compare's run(): one request budget and Stop for the three techniques, figures measured as they draw."""

from __future__ import annotations

import json
import time

import torch
from PIL import Image

from genlab.core.control import Control
from genlab.core.devices import cpu_generator
from genlab.core.images import enlarge, labelled, strip, to_pictures
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import REPO_WEIGHTS
from genlab.datasets import FASHION_CLASSES
from genlab.techniques.compare import NAME, Settings

TECHNIQUES = ("DCGAN", "VAE", "Diffusion")
CONDITIONED_ON = {
    "DCGAN": "a class label (10 classes)",
    "VAE": "nothing (prior samples); an image, to reconstruct or interpolate",
    "Diffusion": "free text (MiniLM), guidance strength, steps",
}
CARD_ROWS = {  # the row of weights/metrics.json (python -m genlab.evaluate) for each technique
    "DCGAN": "DCGAN, class drawn uniformly",
    "VAE": "VAE prior samples (T=1)",
    "Diffusion": "text-to-image (guidance 5), class names (20 DPM-Solver++ steps)",
}


def card_fid() -> dict[str, tuple[float, int]]:
    """(FID on the classifier's features, n) per technique from the shipped metrics card."""
    try:
        rows = {r["model"]: r for r in json.loads((REPO_WEIGHTS / "metrics.json").read_text())["rows"]}
    except (OSError, ValueError, KeyError):
        return {}
    return {t: (rows[k]["fid"], rows[k]["n"]) for t, k in CARD_ROWS.items() if k in rows}


def classes_for(s: Settings, seeds: list[int]) -> torch.Tensor:
    from genlab.techniques.gan import model as gan

    if s.class_name == "any":
        return gan.seed_labels(seeds, len(FASHION_CLASSES))
    return torch.full((len(seeds),), FASHION_CLASSES.index(s.class_name))


# ---------------------------------------------------------------- the three techniques
@torch.no_grad()
def gan_draw(seeds, y, frames: int, y_b: int):
    from genlab.techniques.gan import model as gan

    g, label = gan.MODELS.get("default")
    t0 = time.perf_counter()
    imgs = gan.generate(g, gan.latents(seeds, g.cfg.z_dim), g.embed(y))
    secs = time.perf_counter() - t0
    t = torch.linspace(0, 1, frames)
    za, zb = gan.latents(seeds[:2] if len(seeds) > 1 else [seeds[0], seeds[0] + 1], g.cfg.z_dim)
    ea, eb = g.embed(torch.tensor([int(y[0]), y_b]))
    walk = gan.generate(g, gan.slerp(za, zb, t), gan.lerp(ea, eb, t))
    return imgs, walk, label, secs


@torch.no_grad()
def vae_draw(seeds, frames: int):
    from genlab.techniques.vae import model as vae

    m, label = vae.MODELS.get("vae")
    t0 = time.perf_counter()
    imgs = vae.decode(m, vae.prior_latents(seeds, m.cfg.latent))
    secs = time.perf_counter() - t0
    za, zb = vae.prior_latents([seeds[0], seeds[0] + 1], m.cfg.latent)
    t = torch.linspace(0, 1, frames)[:, None]
    walk = vae.decode(m, (1 - t) * za + t * zb)
    return imgs, walk, label, secs


def diffusion_pipe():
    from genlab.models import diffusion

    base, label = diffusion.MODELS.get(diffusion.FASHION_MODEL)
    return diffusion.request_copy(base, "DPM-Solver++")[0], label


@torch.no_grad()
def diffusion_draw(seeds, y, steps: int, ctl: Control, emit):
    from genlab.techniques.text_to_image import DEFAULT_GUIDANCE

    pipe, label = diffusion_pipe()
    prompts = [FASHION_CLASSES[int(k)] for k in y]

    def callback(p, i, t, kw):
        emit(i + 1, steps)
        if ctl.halted():
            p.interrupt()
        return kw

    imgs = pipe(
        prompts,
        num_inference_steps=steps,
        guidance_scale=DEFAULT_GUIDANCE,
        generator=[cpu_generator(s) for s in seeds],
        output_type="pt",
        callback_on_step_end=callback,
    ).images
    return imgs, label


@torch.no_grad()
def diffusion_walk(seed: int, class_a: int, class_b: int, frames: int, steps: int):
    """x_T slerped between two seeds' noise, the text embedding lerped between two class names (re-normalised,
    as MiniLM's are unit vectors); one batch, DPM-Solver++, classifier-free guidance."""
    from genlab.techniques.gan.model import lerp, slerp
    from genlab.techniques.text_to_image import DEFAULT_GUIDANCE

    pipe, _ = diffusion_pipe()
    na = torch.randn(1, 1, 28, 28, generator=cpu_generator(seed))
    nb = torch.randn(1, 1, 28, 28, generator=cpu_generator(seed + 1))
    t = torch.linspace(0, 1, frames)
    x = slerp(na.flatten(), nb.flatten(), t).view(frames, 1, 28, 28)
    ea, eb = pipe.encode_prompt([FASHION_CLASSES[class_a], FASHION_CLASSES[class_b]])
    emb = torch.nn.functional.normalize(lerp(ea, eb, t), dim=-1)
    emb = torch.cat([torch.zeros_like(emb), emb])  # [uncond; cond]
    sched = pipe.scheduler
    sched.set_timesteps(steps)
    x = x * sched.init_noise_sigma
    for ts in sched.timesteps:
        inp = sched.scale_model_input(torch.cat([x, x]), ts)
        eps_u, eps_c = pipe.unet(inp, ts, emb[:, None], class_labels=emb).sample.chunk(2)
        x = sched.step(eps_u + DEFAULT_GUIDANCE * (eps_c - eps_u), ts, x).prev_sample
    return (x / 2 + 0.5).clamp(0, 1)


# ---------------------------------------------------------------- the run
def _judge(imgs: torch.Tensor):
    from genlab.models import classifier

    clf, _ = classifier.MODELS.get("default")
    return classifier.embed(clf, imgs.float())[1]


def _row(name: str, imgs: torch.Tensor, width: int = 8) -> Image.Image:
    cells = [enlarge(p, 3) for p in to_pictures(imgs[: width * 4])]
    rows = [strip(cells[i : i + width]) for i in range(0, len(cells), width)]
    w = max(r.width for r in rows)
    out = Image.new("RGB", (w, sum(r.height for r in rows)), (24, 24, 24))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return labelled(out, name)


def _stack(images: list[Image.Image]) -> Image.Image:
    w, h = max(i.width for i in images), sum(i.height for i in images) + 6 * (len(images) - 1)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + 6
    return out


def table(figures: dict, asked: int) -> str:
    """The trade-offs, as measured: every number comes from this run or the shipped cards."""
    fids = card_fid()
    head = (
        "| | FID ↓ (shipped weights, n; classifier features) | judged as requested (this run) | classes seen "
        f"(this run; {asked} asked) | ms per image (this run, CPU) | what you can condition on |\n"
        "|---|---|---|---|---|---|\n"
    )
    lines = []
    for t in TECHNIQUES:
        f = figures.get(t)
        if f is None:
            continue
        fid = f"{fids[t][0]:.1f} (n = {fids[t][1]:,})" if t in fids else "—"
        judged = "— (cannot be asked for a class)" if f["judged"] is None else f"{f['judged']:.0%}"
        lines.append(f"| **{t}** | {fid} | {judged} | {f['seen']} | {f['ms']:.1f} | {CONDITIONED_ON[t]} |")
    return head + "\n".join(lines)


def run(s: Settings, inputs: dict, ctl: Control):
    ctl.charge(28 * 28 * s.count * (2 + s.steps) + 28 * 28 * s.frames * (2 + s.steps), "three models", "")
    seeds = list(range(s.seed, s.seed + s.count))
    y = classes_for(s, seeds)
    y_b = int(classes_for(s.replace(class_name="any"), [s.seed + 1])[0]) if s.class_name == "any" else int(y[0])
    total = 2 + s.steps + 1
    figures, samples, walks, labels = {}, [], [], []
    yield Update(0, total, "DCGAN: loading and sampling")
    imgs, walk, label, secs = gan_draw(seeds, y, s.frames, y_b)
    preds = _judge(imgs)
    want = y.numpy()
    figures["DCGAN"] = dict(ms=secs * 1000 / s.count, judged=float((preds == want).mean()), seen=len(set(preds)))
    samples.append(_row("DCGAN", imgs))
    walks.append(labelled(strip([enlarge(p, 3) for p in to_pictures(walk)]), "DCGAN: slerp z, lerp class"))
    labels.append(label)
    yield Update(1, total, "VAE: sampling the prior", preview=samples[-1])
    if not ctl.halted():
        imgs, walk, label, secs = vae_draw(seeds, s.frames)
        preds = _judge(imgs)
        figures["VAE"] = dict(ms=secs * 1000 / s.count, judged=None, seen=len(set(preds)))
        samples.append(_row("VAE (prior: no class)", imgs))
        walks.append(labelled(strip([enlarge(p, 3) for p in to_pictures(walk)]), "VAE: lerp z"))
        labels.append(label)
        yield Update(2, total, "diffusion: denoising", preview=_stack(samples))
    if not ctl.halted():
        from genlab.core.control import in_thread

        def work(emit):
            t0 = time.perf_counter()
            out = diffusion_draw(seeds, y, s.steps, ctl, lambda i, n: emit(Update(2 + i, total, "diffusion")))
            return out, time.perf_counter() - t0

        (imgs, label), secs = yield from in_thread(work, ctl)
        preds = _judge(imgs)
        figures["Diffusion"] = dict(
            ms=secs * 1000 / s.count, judged=float((preds == want).mean()), seen=len(set(preds))
        )
        samples.append(_row(f"Diffusion ({s.steps} steps)", imgs))
        labels.append(label)
        if not ctl.halted():
            walk = diffusion_walk(s.seed, int(y[0]), y_b, s.frames, s.steps)
            walks.append(labelled(strip([enlarge(p, 3) for p in to_pictures(walk)]), "Diffusion: slerp x_T, lerp text"))
    if not ctl.halted():
        yield Update(total - 1, total, "table")
    sheet, walk_sheet = _stack(samples), _stack(walks)
    recipe = make_recipe(NAME, s.params(), weights=" · ".join(labels), seed=s.seed)
    info = (
        f"**{s.count} samples each** of {s.class_name!r}, seeds {s.seed}…{s.seed + s.count - 1}; judged by genlab's "
        f"Fashion-MNIST classifier.{ctl.note()}  \n**Weights:** " + " · ".join(labels)
    )
    data = {"table": table(figures, len(set(y.tolist()))), "figures": figures}
    yield Result([sheet, walk_sheet], [recipe, recipe], info, ["samples", "latent walks"], data, ctl.reason)
