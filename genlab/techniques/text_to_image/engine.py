"""Prompt-to-image's run(): charge the request once, then one generation or the seed x guidance grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from genlab.core.control import Control, shifted
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.techniques.text_to_image import COLOUR_MODEL, GRID_SCALES, GRID_SEEDS, NAME, Settings
from genlab.techniques.text_to_image.pipelines import MODELS, generate


def _work(s: Settings, batch: int) -> tuple[float, str]:
    return s.side * s.side * s.steps * batch, f"{s.side}x{s.side} px x {s.steps} steps x {batch} images"


def run(s: Settings, inputs: dict, ctl: Control):
    hint = "Use fewer steps, a smaller size or a smaller batch."
    if s.action == "encode":
        yield from _encode(inputs, ctl)
        return
    if s.action == "grid":
        work, what = _work(s, GRID_SEEDS)
        ctl.charge(work * len(GRID_SCALES), f"{len(GRID_SCALES)} x {what}", hint)
        yield from _grid(s, ctl, inputs.get("adapter"))
        return
    ctl.charge(*_work(s, s.batch), hint)
    yield Update(0, s.steps, f"loading {s.model} (first use only)")
    images, traj, label = yield from generate(s, ctl, inputs.get("adapter"))
    recipes = [
        make_recipe(NAME, {**s.params(), "seed": s.seed + i, "batch": 1}, weights=label, seed=s.seed + i)
        for i in range(len(images))
    ]
    done = traj.steps[-1] + 1 if traj.steps else 0
    info = f"**Weights:** {label} · {s.scheduler}, {done}/{s.steps} steps{ctl.note()}"
    if traj.read_as:
        info += "  \n**Read as** (the training captions nearest your words, by weight): " + ", ".join(
            f"“{text}” {w:.0%}" for text, w in traj.read_as
        )
    captions = [f"seed {s.seed + i}" for i in range(len(images))]
    yield Result(images, recipes, info, captions, data={"trajectory": traj}, stopped=ctl.reason)


def _grid(s: Settings, ctl: Control, adapter: str | None = None):
    """Rows: GRID_SEEDS seeds; columns: guidance GRID_SCALES. How guidance trades variety for fidelity."""
    cell = 112 if s.pixel_space else 192
    grid = Image.new("RGB", (40 + cell * len(GRID_SCALES), 20 + cell * GRID_SEEDS), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    label = ""
    for j, w in enumerate(GRID_SCALES):
        if ctl.halted():
            break
        one = s.replace(guidance=w, batch=GRID_SEEDS, action="generate")
        images, _, label = yield from shifted(generate(one, ctl, adapter), j * s.steps, len(GRID_SCALES) * s.steps)
        draw.text((40 + j * cell + 4, 4), f"w = {w:g}", fill=(255, 255, 255))
        for i, im in enumerate(images):
            resample = Image.NEAREST if s.pixel_space else Image.LANCZOS
            grid.paste(im.convert("RGB").resize((cell, cell), resample), (40 + j * cell, 20 + i * cell))
            if j == 0:
                draw.text((2, 20 + i * cell + 4), f"{s.seed + i}", fill=(255, 255, 255))
        yield Update((j + 1) * s.steps, len(GRID_SCALES) * s.steps, f"guidance {w:g}")
    recipe = make_recipe(NAME, s.params(), weights=label, seed=s.seed)
    yield Result([grid], [recipe], f"Seed × guidance grid{ctl.note()}", stopped=ctl.reason)


def _encode(inputs: dict, ctl: Control):
    """The colour model's VAE on a picture: 128x128x3 -> 16x16x4 latents -> 128x128x3, with the PSNR."""
    import torch

    from genlab.core.images import labelled, open_image, strip
    from genlab.core.weights import file_sha256
    from genlab.techniques.text_to_image.views import LATENT_CELL, channel_tile

    if not inputs.get("image"):
        raise ValueError("Upload a picture to encode (PNG, JPEG or WebP).")
    im = open_image(inputs["image"], min_side=16)
    ctl.charge(128 * 128 * 2, "one 128x128 picture through the VAE", "")
    yield Update(0, 2, f"loading {COLOUR_MODEL} (first use only)")
    pipe, label = MODELS.get(COLOUR_MODEL)
    side = min(im.size)  # centre square, then 128 px (the model's native size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((128, 128), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(im, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]  # [1,3,128,128]
    with torch.inference_mode():
        z = pipe.encode_images(x)  # [1,4,16,16], normalised
        yield Update(1, 2, "decoding")
        rec = pipe.decode_latents(z)[0].cpu()  # [3,128,128] in [0,1]
    rec8 = (rec * 255).round() / 255
    mse = float((rec8 - (x[0] + 1) / 2).pow(2).mean())
    psnr = 10 * np.log10(1 / max(mse, 1e-10))
    channels = strip([labelled(channel_tile(c, LATENT_CELL), f"z{i}") for i, c in enumerate(z[0].float().numpy())])
    recon = Image.fromarray((rec.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    recipe = {
        **make_recipe(NAME, {"action": "encode"}, weights=label),
        "input_sha256": file_sha256(Path(inputs["image"])),
    }
    info = (
        f"**VAE of {COLOUR_MODEL}**: 128×128×3 = 49,152 numbers → **16×16×4 = 1,024 latents** (48× fewer) → "
        f"128×128×3 again. Reconstruction PSNR **{psnr:.1f} dB**. The diffusion model works on these 1,024 numbers; "
        "the decoder paints the details back."
    )
    yield Result([im, channels, recon], [recipe] * 3, info, ["input (128 px)", "latents", "reconstruction"])
