"""GAN tab: sample a class-conditional DCGAN trained here on Fashion-MNIST, and walk its latent space."""

from __future__ import annotations

import json

import gradio as gr
import torch

from genlab import gan
from genlab.data import FASHION_CLASSES
from genlab.recipes import make_recipe
from genlab.ui.common import HEAVY, Number, Slider, as_float, as_int, recipe_drop, restore, save_gif, save_outputs, strip, tensor_images, ui_errors, upscale
from genlab.weights import REPO_WEIGHTS

TECHNIQUE = "gan_sample"
CLASS_CHOICES = ["any", *FASHION_CLASSES]


def _class(name: str) -> int | None:
    if name not in CLASS_CHOICES:
        raise ValueError(f"class must be 'any' or one of {', '.join(FASHION_CLASSES)} (got {name!r}).")
    return None if name == "any" else FASHION_CLASSES.index(name)


def _truncation(t) -> float | None:
    t = as_float(t, "truncation", 0, 4)
    if 0 < t < 0.1:
        raise ValueError("truncation must be 0 (off) or 0.1-4.")
    return None if t == 0 else t


@ui_errors
def sample(seed, count, class_name, truncation):
    """Sample `count` images; image i uses seed+i (so each is reproducible alone). Returns PNGs with recipes."""
    seed = as_int(seed, "seed", 0, 2**63 - 65)
    count = as_int(count, "count", 1, 64)
    label = _class(class_name)
    t = _truncation(truncation)
    g, wlabel = gan.DEFAULT.get()
    seeds = list(range(seed, seed + count))
    y = torch.full((count,), label) if label is not None else gan.seed_labels(seeds, g.cfg.classes)
    x = gan.generate(g, gan.latents(seeds, g.cfg.z_dim, truncation=t), g.embed(y))
    recipes = [
        make_recipe(TECHNIQUE, {"seed": s, "count": 1, "class_name": class_name, "truncation": truncation}, weights=wlabel, seed=s)
        for s in seeds
    ]
    paths = save_outputs([upscale(im) for im in tensor_images(x)], recipes, stem="gan")
    captions = [f"seed {s} · {FASHION_CLASSES[int(k)]}" for s, k in zip(seeds, y)]
    return list(zip(paths, captions)), f"**Weights:** {wlabel}"


@ui_errors
def interpolate(seed_a, seed_b, class_a, class_b, mode, frames, truncation):
    """Walk from (seed_a, class_a) to (seed_b, class_b): lerp or slerp in z, lerp in class embedding.
    Returns the strip PNG and an animated GIF."""
    seed_a, seed_b = as_int(seed_a, "seed A", 0, 2**63 - 1), as_int(seed_b, "seed B", 0, 2**63 - 1)
    frames = as_int(frames, "frames", 2, 64)
    if mode not in ("slerp", "lerp"):
        raise ValueError(f"mode must be 'slerp' or 'lerp' (got {mode!r}).")
    t_ = _truncation(truncation)
    g, wlabel = gan.DEFAULT.get()
    ca, cb = _class(class_a), _class(class_b)
    ya = ca if ca is not None else int(gan.seed_labels([seed_a], 10)[0])
    yb = cb if cb is not None else int(gan.seed_labels([seed_b], 10)[0])
    z = gan.latents([seed_a, seed_b], g.cfg.z_dim, truncation=t_)
    t = torch.linspace(0, 1, frames)
    zs = (gan.slerp if mode == "slerp" else gan.lerp)(z[0], z[1], t)
    with torch.no_grad():
        e = gan.lerp(g.embed(torch.tensor(ya)), g.embed(torch.tensor(yb)), t)
    ims = [upscale(im) for im in tensor_images(gan.generate(g, zs, e))]
    params = {"seed_a": seed_a, "seed_b": seed_b, "class_a": class_a, "class_b": class_b, "mode": mode,
              "frames": frames, "truncation": truncation}  # fmt: skip
    recipe = make_recipe("gan_interpolate", params, weights=wlabel)
    png = save_outputs([strip(ims)], [recipe], stem="gan-walk")[0]
    return png, save_gif(ims, recipe)


def training_figure():
    """The generator's and discriminator's loss per epoch, from the shipped card."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.ui.common import figure_image

    card_path = REPO_WEIGHTS / "dcgan.json"
    if not card_path.is_file():
        return None
    card = json.loads(card_path.read_text())
    h = card["loss_curves"]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.plot([r["epoch"] for r in h], [r["g_loss"] for r in h], "o-", label="generator")
    ax.plot([r["epoch"] for r in h], [r["d_loss"] for r in h], "o-", label="discriminator")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss")
    ax.set_title(f"DCGAN training ({card['wall_seconds'] / 60:.0f} min on CPU)")
    ax.legend()
    return figure_image(fig)


def metrics_md(key: str) -> str:
    p = REPO_WEIGHTS / "metrics.json"
    if not p.is_file():
        return "_Metrics: run `python -m genlab.evaluate` to compute them._"
    m = json.loads(p.read_text())
    rows = [r for r in m.get("rows", []) if r["model"].startswith(key)]
    if not rows:
        return ""
    out = ["| model | FID (classifier features) ↓ | KID ↓ | smallest class share | judged as requested |", "|---|---|---|---|---|"]
    for r in rows:
        jr = f"{r['judged_as_requested']:.1%}" if r.get("judged_as_requested") is not None else "—"
        out.append(f"| {r['model']} | {r['fid']:.2f} | {r['kid']:.4f} | {r['min_class_share']:.1%} | {jr} |")
    return "\n".join(out)


def build() -> None:
    gr.Markdown(
        "A **DCGAN** (Radford et al. 2016) trained here on Fashion-MNIST: a generator maps a 64-d noise vector "
        "z and a class to an image, while a discriminator learns to tell its images from real ones; each "
        "improves against the other. Every image comes from its own seed, so any one can be made again."
    )
    with gr.Row():
        seed = Number(value=0, precision=0, label="Seed (image i uses seed + i)")
        count = Slider(1, 64, value=16, step=1, label="Count")
        class_name = gr.Dropdown(CLASS_CHOICES, value="any", label="Class")
        trunc = Slider(0, 4, value=0, step=0.1, label="Truncation (0 = off; small = typical, less varied)")
    go = gr.Button("Sample", variant="primary")
    gallery = gr.Gallery(label="Samples", columns=8, height=330, object_fit="contain")
    info = gr.Markdown("Weights load on first use from `weights/dcgan.safetensors`.")
    go.click(sample, [seed, count, class_name, trunc], [gallery, info], api_name="gan_sample", concurrency_id=HEAVY)
    drop = recipe_drop()
    drop.upload(lambda p: restore(TECHNIQUE, ["seed", "count", "class_name", "truncation"], p), drop,
                [seed, count, class_name, trunc], api_visibility="private")  # fmt: skip
    with gr.Accordion("Interpolate between two seeds or classes", open=True):
        with gr.Row():
            sa = Number(value=1, precision=0, label="Seed A")
            sb = Number(value=2, precision=0, label="Seed B")
            ca = gr.Dropdown(CLASS_CHOICES, value="Sneaker", label="Class A")
            cb = gr.Dropdown(CLASS_CHOICES, value="Ankle boot", label="Class B")
        with gr.Row():
            mode = gr.Radio(["slerp", "lerp"], value="slerp", label="Path")
            frames = Slider(2, 64, value=10, step=1, label="Frames")
            walk = gr.Button("Interpolate")
        with gr.Row():
            strip_out = gr.Image(label="Strip", type="filepath", interactive=False, height=160)
            gif_out = gr.Image(label="Animation (GIF)", type="filepath", format="gif", interactive=False, height=160)
        walk.click(interpolate, [sa, sb, ca, cb, mode, frames, trunc], [strip_out, gif_out], api_name="gan_interpolate",
                   concurrency_id=HEAVY)  # fmt: skip
    with gr.Accordion("How it was trained, and how good it is", open=False):
        gr.Markdown(metrics_md("DCGAN"))
        fig = training_figure()
        if fig is not None:
            gr.Image(value=fig, label="Training curves", interactive=False, height=260)
        gr.Markdown(
            "The discriminator is conditioned by projection (Miyato & Koyama 2018), spectrally normalised and trained with "
            "the hinge loss. Train again with `python -m genlab.train dcgan --epochs 8`."
        )
