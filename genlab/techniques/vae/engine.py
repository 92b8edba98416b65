"""The VAE's actions: prior samples, reconstruction with its error, interpolation, the 2-D latent map."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from genlab.core.control import Control
from genlab.core.images import enlarge, open_image, strip, to_pictures
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import REPO_WEIGHTS, load_safetensors
from genlab.datasets import FASHION_CLASSES
from genlab.techniques.vae import MAP_CELL as CELL
from genlab.techniques.vae import MAP_CELLS, MAP_RANGE, NAME, Settings
from genlab.techniques.vae.model import MODELS, decode, prior_latents, to_fashion

PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


def input_picture(src) -> Image.Image:
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


def _model(weights) -> tuple:
    """(VAE, label): genlab's 16-d VAE, or the user's from Train live (weights = its file)."""
    if not weights:
        return MODELS.get("vae")
    from genlab.models import live

    return live.load(weights, "vae")


def run(s: Settings, inputs: dict, ctl: Control):
    n = {"sample": s.count, "reconstruct": 1, "interpolate": s.frames}[s.action]
    ctl.charge(28 * 28 * n, f"{n} pictures of 28x28 px", "Ask for fewer pictures.")
    yield Update(0, 1, s.action)
    if ctl.halted():  # one step: nothing is drawn after a Stop
        raise ValueError("Stopped before the VAE drew anything.")
    model = _model(inputs.get("weights"))
    if s.action == "sample":
        yield _sample(s, model)
    elif s.action == "reconstruct":
        yield _reconstruct(s, model, *_chosen_input(s.source, inputs.get("image"), inputs.get("sketch")))
    else:
        yield _interpolate(s, model, inputs.get("image_a"), inputs.get("image_b"))


@torch.no_grad()
def _sample(s: Settings, model_label: tuple) -> Result:
    model, label = model_label
    seeds = list(range(s.seed, s.seed + s.count))
    x = decode(model, prior_latents(seeds, model.cfg.latent, temperature=s.temperature))
    recipes = [make_recipe(NAME, {**s.params(), "seed": k, "count": 1}, weights=label, seed=k) for k in seeds]
    return Result(
        [enlarge(im) for im in to_pictures(x)], recipes, f"**Weights:** {label}", [f"seed {k}" for k in seeds]
    )


@torch.no_grad()
def _chosen_input(source: str, image, sketch) -> tuple:
    """(the picture to reconstruct, how to name it) for source "upload", "drawing" or "auto"."""
    if source == "auto":
        source = "upload" if image else "drawing"
    if source == "upload" and not image:
        raise ValueError("There is no upload to reconstruct: upload a picture, or choose the drawing.")
    return (image, "your upload") if source == "upload" else (sketch, "your drawing")


def _reconstruct(s: Settings, model_label: tuple, src, what: str = "the input") -> Result:
    """Input -> its 28x28 Fashion-MNIST-style preprocessing -> reconstruction (posterior mean), side by side."""
    im = input_picture(src)
    x = to_fashion(im)  # [1,1,28,28]
    model, label = model_label
    rec = decode(model, model.encode(x)[0])
    bce = F.binary_cross_entropy(rec.clamp(1e-6, 1 - 1e-6), x, reduction="sum").item()
    mse = F.mse_loss(rec, x).item()
    pre, out = to_pictures(torch.cat([x, rec]))
    side = 168
    scale = side / max(im.size)
    panel = strip(
        [
            im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale)))),
            pre.resize((side, side), Image.NEAREST),
            out.resize((side, side), Image.NEAREST),
        ]
    )
    info = (
        f"Reconstructed **{what}**: input · 28×28 preprocessing · reconstruction — error: MSE {mse:.4f}, "
        f"BCE {bce:.1f} nats · **Weights:** {label}"
    )
    return Result([panel], [make_recipe(NAME, s.params(), weights=label)], info, data={"mse": mse, "bce": bce})


@torch.no_grad()
def _interpolate(s: Settings, model_label: tuple, a, b) -> Result:
    """Encode two inputs, walk linearly between their posterior means, decode each step."""
    model, label = model_label
    xa, xb = to_fashion(input_picture(a)), to_fashion(input_picture(b))
    ma, mb = model.encode(xa)[0], model.encode(xb)[0]
    t = torch.linspace(0, 1, s.frames)[:, None]
    frames = [enlarge(im) for im in to_pictures(decode(model, (1 - t) * ma + t * mb))]
    return Result(
        [strip(frames)],
        [make_recipe(NAME, s.params(), weights=label)],
        f"**Weights:** {label}",
        data={"frames": frames},
    )


@lru_cache(maxsize=1)
@torch.no_grad()
def latent_map() -> tuple[Image.Image, str]:
    """Decoded grid over [-R,R]^2 of the 2-D VAE, with test images' latent means scattered by class."""
    model, label = MODELS.get("vae2d")
    ticks = torch.linspace(-MAP_RANGE, MAP_RANGE, MAP_CELLS)
    z = torch.stack([torch.stack([x, -y]) for y in ticks for x in ticks])  # rows top->bottom = +y -> -y
    side = MAP_CELLS * CELL
    canvas = Image.new("RGB", (side, side))
    for i, tile in enumerate(to_pictures(decode(model, z))):
        canvas.paste(tile.convert("RGB"), ((i % MAP_CELLS) * CELL, (i // MAP_CELLS) * CELL))
    canvas = Image.blend(canvas, Image.new("RGB", canvas.size), 0.35)
    draw = ImageDraw.Draw(canvas)
    pts = REPO_WEIGHTS / "vae2d_testmap.safetensors"
    if pts.is_file():
        state, _ = load_safetensors(pts)
        for (zx, zy), k in zip(state["mu"][:3000].tolist(), state["label"][:3000].tolist()):
            px, py = (zx + MAP_RANGE) / (2 * MAP_RANGE) * side, (MAP_RANGE - zy) / (2 * MAP_RANGE) * side
            draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=PALETTE[k])
    legend = " · ".join(f"<span style='color:rgb{c}'>●</span> {n}" for c, n in zip(PALETTE, FASHION_CLASSES))
    return canvas, f"{legend}<br>**Weights:** {label}. Click anywhere on the map to decode that point."


@torch.no_grad()
def decode_point(zx: float, zy: float) -> Image.Image:
    model, _ = MODELS.get("vae2d")
    return to_pictures(decode(model, torch.tensor([[zx, zy]], dtype=torch.float32)))[0].resize(
        (196, 196), Image.NEAREST
    )
