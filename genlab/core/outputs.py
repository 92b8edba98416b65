"""Output files: generated names in a swept folder, PNGs carrying their recipe, animated GIFs."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image, PngImagePlugin

from genlab.core import history
from genlab.core.recipes import RECIPE_KEY

KEEP_SECONDS = 2 * 3600  # outputs older than this are deleted (Gradio keeps its own copies as long)
SWEEP_EVERY = 600  # seconds between sweeps
_last_sweep = [0.0]


def output_dir() -> Path:
    """Where outputs are written: inside the system temp dir, which Gradio serves without allowed_paths.
    Files older than KEEP_SECONDS are swept away, at most every SWEEP_EVERY seconds."""
    d = Path(tempfile.gettempdir()) / "genlab-outputs"
    d.mkdir(parents=True, exist_ok=True)
    now = time.time()
    if now - _last_sweep[0] > SWEEP_EVERY:
        _last_sweep[0] = now
        for f in d.iterdir():
            try:
                if now - f.stat().st_mtime > KEEP_SECONDS:
                    f.unlink()
            except OSError:
                pass
    return d


def output_path(stem: str, suffix: str) -> Path:
    """A generated file name: never taken from user text."""
    safe = "".join(c for c in stem if c.isalnum() or c in "-_")[:32] or "genlab"
    return output_dir() / f"{safe}-{uuid.uuid4().hex[:12]}{suffix}"


def save_png(image: Image.Image, recipe: dict, *, stem: str = "genlab") -> Path:
    """Write image as a PNG with its recipe in a tEXt chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    path = output_path(stem, ".png")
    big = image.width * image.height >= 1 << 20  # >= 1 MP (upscaled pictures): fast zlib level, ~4x faster to write
    image.save(path, format="PNG", pnginfo=info, compress_level=1 if big else 6)
    history.record(path)
    return path


def save_view(image: Image.Image, *, stem: str = "view") -> str:
    """Write a picture only meant to be looked at (comparisons, sliders) as a JPEG: fast to write and load."""
    path = output_path(stem, ".jpg")
    image.convert("RGB").save(path, format="JPEG", quality=92)
    return str(path)


def save_pngs(images: list[Image.Image], recipes: list[dict], stem: str) -> list[str]:
    return [str(save_png(im, r, stem=stem)) for im, r in zip(images, recipes)]


def save_gif(frames: list[Image.Image], recipe: dict, *, ms: int = 120, stem: str = "walk") -> str:
    """An animated GIF playing forth and back, its recipe in the comment."""
    path = output_path(stem, ".gif")
    # each frame's own 256-colour palette by fast octree (Pillow's default median cut takes ~50 ms a colour frame)
    seq = [f.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE) for f in frames]
    seq = seq + seq[-2:0:-1]
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=ms, loop=0, comment=json.dumps(recipe)[:60000])
    return str(path)
