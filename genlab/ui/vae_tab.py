"""VAE tab: prior samples, reconstruction of uploads and drawings, latent interpolation, a 2-D latent map."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from genlab import vae
from genlab.data import FASHION_CLASSES
from genlab.images import open_image
from genlab.recipes import make_recipe
from genlab.ui.common import HEAVY, Number, Slider, ImageInput, as_float, as_int, recipe_drop, restore, save_gif, save_outputs, strip, tensor_images, ui_errors, upscale
from genlab.ui.gan_tab import metrics_md
from genlab.weights import REPO_WEIGHTS, load_safetensors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fashion"
MAP_RANGE = 3.0  # the 2-D map covers [-3, 3]^2 of the latent plane
MAP_CELLS = 16  # decoded images per side
CELL = 28  # px per decoded image
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip


def _input_image(src) -> Image.Image:
    """An upload path, or a sketchpad/editor value (dict with 'composite')."""
    if isinstance(src, dict):
        src = src.get("composite")
        if src is None:
            raise ValueError("Upload an image, draw one, or click an example.")
        if isinstance(src, np.ndarray) and src.ndim == 3 and src.shape[2] == 4 and src[..., 3].max() == 0:
            raise ValueError("The sketchpad is empty: draw something first.")
    if src is None or (isinstance(src, str) and not src):
        raise ValueError("Upload an image, draw one, or click an example.")
    return open_image(src)


@ui_errors
def sample(seed, count, temperature):
    """Decode z ~ N(0, T^2 I); image i uses seed + i. Returns PNGs with recipes."""
    seed = as_int(seed, "seed", 0, 2**63 - 65)
    count = as_int(count, "count", 1, 64)
    temperature = as_float(temperature, "temperature", 0, 3)
    model, label = vae.DEFAULT.get()
    seeds = list(range(seed, seed + count))
    x = vae.decode(model, vae.prior_latents(seeds, model.cfg.latent, temperature=temperature))
    recipes = [make_recipe("vae_sample", {"seed": s, "count": 1, "temperature": temperature}, weights=label, seed=s) for s in seeds]
    paths = save_outputs([upscale(im) for im in tensor_images(x)], recipes, stem="vae")
    return list(zip(paths, [f"seed {s}" for s in seeds])), f"**Weights:** {label}"


@ui_errors
def reconstruct(image, sketch):
    """Input -> its 28x28 Fashion-MNIST-style preprocessing -> reconstruction (posterior mean), side by side."""
    src = image if image else sketch
    im = _input_image(src)
    x = vae.to_fashion(im)  # [1,1,28,28]
    model, label = vae.DEFAULT.get()
    with torch.no_grad():
        mu, _ = model.encode(x)
        rec = vae.decode(model, mu)
    bce = F.binary_cross_entropy(rec.clamp(1e-6, 1 - 1e-6), x, reduction="sum").item()
    mse = F.mse_loss(rec, x).item()
    pre, out = tensor_images(torch.cat([x, rec]))
    side = 168
    panel = strip([im.resize((side, round(side * im.height / im.width)) if im.width >= im.height else (round(side * im.width / im.height), side)),
                   pre.resize((side, side), Image.NEAREST), out.resize((side, side), Image.NEAREST)])  # fmt: skip
    recipe = make_recipe("vae_reconstruct", {}, weights=label)
    path = save_outputs([panel], [recipe], stem="vae-rec")[0]
    return path, f"input · 28×28 preprocessing · reconstruction — error: MSE {mse:.4f}, BCE {bce:.1f} nats · **Weights:** {label}"


@ui_errors
def interpolate(image_a, image_b, frames):
    """Encode two inputs, walk linearly between their posterior means, decode each step. Strip + GIF."""
    frames = as_int(frames, "frames", 2, 64)
    model, label = vae.DEFAULT.get()
    xa, xb = vae.to_fashion(_input_image(image_a)), vae.to_fashion(_input_image(image_b))
    with torch.no_grad():
        (ma, _), (mb, _) = model.encode(xa), model.encode(xb)
    t = torch.linspace(0, 1, frames)[:, None]
    ims = [upscale(im) for im in tensor_images(vae.decode(model, (1 - t) * ma + t * mb))]
    recipe = make_recipe("vae_interpolate", {"frames": frames}, weights=label)
    return save_outputs([strip(ims)], [recipe], stem="vae-walk")[0], save_gif(ims, recipe)


@lru_cache(maxsize=1)
def latent_map() -> tuple[Image.Image, str]:
    """Decoded grid over [-R,R]^2 of the 2-D VAE, with test images' latent means scattered by class."""
    model, label = vae.MODELS.get("vae2d")
    ticks = torch.linspace(-MAP_RANGE, MAP_RANGE, MAP_CELLS)
    z = torch.stack([torch.stack([x, -y]) for y in ticks for x in ticks])  # rows top->bottom = +y -> -y
    tiles = tensor_images(vae.decode(model, z))
    side = MAP_CELLS * CELL
    canvas = Image.new("RGB", (side, side))
    for i, tile in enumerate(tiles):
        canvas.paste(tile.convert("RGB"), ((i % MAP_CELLS) * CELL, (i // MAP_CELLS) * CELL))
    canvas = Image.blend(canvas, Image.new("RGB", canvas.size), 0.35)
    draw = ImageDraw.Draw(canvas)
    pts = REPO_WEIGHTS / "vae2d_testmap.safetensors"
    if pts.is_file():
        state, _ = load_safetensors(pts)
        for (zx, zy), k in zip(state["mu"][:3000].tolist(), state["label"][:3000].tolist()):
            px, py = _to_px(zx, zy, side)
            draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=PALETTE[k])
    return canvas, label


def _to_px(zx: float, zy: float, side: int) -> tuple[float, float]:
    return (zx + MAP_RANGE) / (2 * MAP_RANGE) * side, (MAP_RANGE - zy) / (2 * MAP_RANGE) * side


@ui_errors
def show_map():
    im, label = latent_map()
    legend = " · ".join(f"<span style='color:rgb{c}'>●</span> {n}" for c, n in zip(PALETTE, FASHION_CLASSES))
    return im, f"{legend}<br>**Weights:** {label}. Click anywhere on the map to decode that point."


@ui_errors
def decode_point(evt: gr.SelectData):
    side = MAP_CELLS * CELL
    px, py = evt.index
    zx = px / side * 2 * MAP_RANGE - MAP_RANGE
    zy = MAP_RANGE - py / side * 2 * MAP_RANGE
    model, _ = vae.MODELS.get("vae2d")
    im = tensor_images(vae.decode(model, torch.tensor([[zx, zy]], dtype=torch.float32)))[0]
    return im.resize((196, 196), Image.NEAREST), f"z = ({zx:.2f}, {zy:.2f})"


def build() -> None:
    gr.Markdown(
        "A **variational autoencoder** (Kingma & Welling 2014) trained here on Fashion-MNIST: an encoder maps an "
        "image to a Gaussian over a 16-d latent space, a decoder maps latents back to images, and a KL term keeps "
        "the latents close to N(0, I) so that *any* point decodes to something plausible."
    )
    examples = sorted(str(p) for p in EXAMPLES.glob("*.png"))
    with gr.Tab("Sample"):
        with gr.Row():
            seed = Number(value=0, precision=0, label="Seed (image i uses seed + i)")
            count = Slider(1, 64, value=16, step=1, label="Count")
            temp = Slider(0, 2, value=1.0, step=0.05, label="Temperature (std of z)")
        go = gr.Button("Sample", variant="primary")
        gallery = gr.Gallery(label="Prior samples", columns=8, height=330, object_fit="contain")
        sample_info = gr.Markdown("Weights load on first use from `weights/vae.safetensors`.")
        go.click(sample, [seed, count, temp], [gallery, sample_info], api_name="vae_sample", concurrency_id=HEAVY)
        drop = recipe_drop()
        drop.upload(lambda p: restore("vae_sample", ["seed", "count", "temperature"], p), drop, [seed, count, temp],
                    api_visibility="private")  # fmt: skip
    with gr.Tab("Reconstruct"):
        with gr.Row():
            image = ImageInput(label="Upload a picture of clothing", type="filepath", image_mode=None, height=240)
            sketch = gr.Sketchpad(label="…or draw one (pick the brush, then draw)", type="numpy", height=240, canvas_size=(280, 280),
                                  brush=gr.Brush(default_size=8, colors=["#000000"], color_mode="fixed"))  # fmt: skip
        if examples:
            gr.Examples(examples, inputs=image, label="Fashion-MNIST test images")
        rec_btn = gr.Button("Reconstruct", variant="primary")
        rec_out = gr.Image(label="input · preprocessing · reconstruction", type="filepath", interactive=False, height=200)
        rec_info = gr.Markdown()
        rec_btn.click(reconstruct, [image, sketch], [rec_out, rec_info], api_name="vae_reconstruct", concurrency_id=HEAVY)
    with gr.Tab("Interpolate"):
        with gr.Row():
            ia = ImageInput(label="Start", type="filepath", image_mode=None, height=200)
            ib = ImageInput(label="End", type="filepath", image_mode=None, height=200)
        if len(examples) >= 2:
            gr.Examples([[examples[0], examples[-1]], [examples[1], examples[2]]], inputs=[ia, ib], label="Pairs")
        with gr.Row():
            frames = Slider(2, 64, value=10, step=1, label="Frames")
            walk = gr.Button("Interpolate", variant="primary")
        with gr.Row():
            walk_strip = gr.Image(label="Strip", type="filepath", interactive=False, height=160)
            walk_gif = gr.Image(label="Animation (GIF)", type="filepath", format="gif", interactive=False, height=160)
        walk.click(interpolate, [ia, ib, frames], [walk_strip, walk_gif], api_name="vae_interpolate", concurrency_id=HEAVY)
    with gr.Tab("2-D latent map"):
        gr.Markdown("A second VAE with a **2-D** latent space: the grid decodes evenly spaced points of the plane, "
                    "the dots are test images' encodings coloured by class.")
        show = gr.Button("Show the map", variant="primary")
        with gr.Row():
            map_img = gr.Image(label="Latent plane [-3, 3]²", type="pil", interactive=False, height=460)
            with gr.Column():
                point = gr.Image(label="Decoded point", type="pil", interactive=False, height=220)
                point_info = gr.Markdown()
        map_info = gr.Markdown()
        show.click(show_map, None, [map_img, map_info], api_visibility="private", concurrency_id=HEAVY)
        map_img.select(decode_point, None, [point, point_info], api_visibility="private")
    with gr.Accordion("How good is it?", open=False):
        gr.Markdown(metrics_md("VAE"))
