"""Pictures and plot data of a run's trajectory, built once per new frame (pure PIL and pandas; no torch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from genlab.core.images import labelled, strip
from genlab.ui.schedule import noise_schedule

STRIP_CELL, GIF_CELL = 112, 224


def shown(im: Image.Image, offline: bool, side: int) -> Image.Image:
    """A picture at `side` px; the offline model's 28 px pictures keep their pixels."""
    return im.resize((side, side), Image.NEAREST if offline else Image.LANCZOS)


def frames_strip(frames: list[list[Image.Image]], offline: bool) -> Image.Image | None:
    """The first image of each recorded frame, side by side."""
    return strip([shown(f[0], offline, STRIP_CELL) for f in frames]) if frames else None


def gif_frames(traj, final: Image.Image, offline: bool) -> list[Image.Image]:
    """x_t (and x̂0 beside it) at each recorded step, then the result: the GIF of the run."""
    out = []
    for i, (step, xt) in enumerate(zip(traj.steps, traj.xt)):
        left = labelled(shown(xt[0], offline, GIF_CELL), f"x_t  step {step + 1}")
        if i < len(traj.x0):
            out.append(strip([left, labelled(shown(traj.x0[i][0], offline, GIF_CELL), "predicted x0")]))
        else:
            out.append(strip([left]))
    last = shown(final, offline, GIF_CELL)
    out.append(strip([last, last] if traj.x0 else [last]))
    return out


def schedule_frame(traj, current: int | None) -> pd.DataFrame:
    """The run's schedule with a vertical "now" line at the current step."""
    return noise_schedule(traj.alphas_cumprod, current)


LATENT_CELL = 96


def channel_tile(c: np.ndarray, side: int = LATENT_CELL) -> Image.Image:
    """One latent channel [h,w] as a diverging picture: blue < 0 < red, scaled by its own largest |value|."""
    v = c / max(float(np.abs(c).max()), 1e-6)  # [-1,1]
    rgb = np.stack([np.clip(v, 0, 1), np.zeros_like(v), np.clip(-v, 0, 1)], -1)
    rgb = (1 - np.abs(v))[..., None] * 0.94 + rgb  # white at 0
    im = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    return im.resize((side, side * c.shape[0] // c.shape[1]), Image.NEAREST)


def latent_grid(traj, final: Image.Image | None = None) -> Image.Image | None:
    """Rows: recorded steps; columns: z_t's channels (blue < 0 < red) and, when the model decoded it, the
    picture the VAE makes of x̂0 at that step; a last row with the result. Latent models only."""
    if not traj.channels:
        return None
    rows = []
    for k, (step, ch) in enumerate(zip(traj.steps, traj.channels)):
        tiles = [channel_tile(c) for c in ch[:4]]
        tiles[0] = labelled(tiles[0], f"step {step + 1}")
        if k < len(traj.decoded):
            tiles.append(traj.decoded[k].resize((LATENT_CELL, LATENT_CELL), Image.LANCZOS))
        rows.append(strip(tiles))
    if final is not None:
        rows.append(strip([labelled(final.resize((LATENT_CELL * 2, LATENT_CELL * 2), Image.LANCZOS), "result")]))
    w, h = max(r.width for r in rows), sum(r.height for r in rows)
    out = Image.new("RGB", (w, h), (24, 24, 24))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out
