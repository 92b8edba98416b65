"""Recipes: every PNG genlab produces carries, in a text chunk, what is needed to make it again."""

from __future__ import annotations

import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

RECIPE_KEY = "genlab-recipe"  # PNG tEXt keyword


KEEP_SECONDS = 2 * 3600  # outputs older than this are deleted (Gradio keeps its own copies as long)
_last_sweep = [0.0]


def output_dir() -> Path:
    """Where outputs are written: inside the system temp dir, which Gradio serves without allowed_paths.

    Files older than KEEP_SECONDS are swept away, at most every ten minutes.
    """
    d = Path(tempfile.gettempdir()) / "genlab-outputs"
    d.mkdir(parents=True, exist_ok=True)
    now = time.time()
    if now - _last_sweep[0] > 600:
        _last_sweep[0] = now
        for f in d.iterdir():
            try:
                if now - f.stat().st_mtime > KEEP_SECONDS:
                    f.unlink()
            except OSError:
                pass
    return d


def make_recipe(technique: str, params: dict[str, Any], *, weights: str, seed: int | None = None) -> dict:
    """A JSON-able recipe: technique, its parameters, seed, weight source/hash and software versions."""
    import torch

    from genlab import __version__

    return {
        "technique": technique,
        "params": params,
        "seed": seed,
        "weights": weights,
        "versions": {"genlab": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }


def save_png(image: Image.Image, recipe: dict, *, stem: str = "genlab") -> Path:
    """Write image as a PNG with its recipe; the file name is generated, never taken from user text."""
    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    safe_stem = "".join(c for c in stem if c.isalnum() or c in "-_")[:32] or "genlab"
    path = output_dir() / f"{safe_stem}-{uuid.uuid4().hex[:12]}.png"
    image.save(path, format="PNG", pnginfo=info)
    return path


def read_recipe(path: str | Path) -> dict:
    """The recipe stored in a genlab PNG; ValueError if the file carries none."""
    from genlab.images import ALLOWED_FORMATS

    try:
        with Image.open(path, formats=ALLOWED_FORMATS) as im:
            text = im.info.get(RECIPE_KEY) or getattr(im, "text", {}).get(RECIPE_KEY)
    except Exception:
        raise ValueError(f"{Path(path).name} is not a PNG made by genlab.") from None
    if not text:
        raise ValueError(f"{Path(path).name} carries no genlab recipe (only PNGs saved by genlab do).")
    try:
        recipe = json.loads(text)
    except ValueError:
        raise ValueError(f"{Path(path).name} has a damaged recipe.") from None
    if not isinstance(recipe, dict) or "technique" not in recipe or not isinstance(recipe.get("params"), dict):
        raise ValueError(f"{Path(path).name} has a recipe genlab cannot read.")
    return recipe
