"""Recipes: every PNG genlab produces carries, in a text chunk, what is needed to make it again."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from PIL import Image

RECIPE_KEY = "genlab-recipe"  # PNG tEXt keyword


def make_recipe(technique: str, params: dict[str, Any], *, weights: str, seed: int | None = None) -> dict:
    """A JSON-able recipe: technique NAME, its settings, seed, weight source/hash and software versions."""
    from importlib.metadata import version

    from genlab import __version__

    return {
        "technique": technique,
        "params": params,
        "seed": seed,
        "weights": weights,
        "versions": {"genlab": __version__, "torch": version("torch"), "python": platform.python_version()},
    }


def read_recipe(path: str | Path) -> dict:
    """The recipe stored in a genlab PNG; ValueError if the file carries none."""
    from genlab.core.images import ALLOWED_FORMATS

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


def source_recipe(path: str | Path) -> dict | None:
    """The recipe of the picture a run started from, when it is a genlab PNG (the chain a result records as
    "from"); None for any other picture."""
    try:
        return read_recipe(path)
    except ValueError:
        return None
