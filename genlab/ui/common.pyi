"""Small helpers every tab uses: error translation, stop flags, recipes, pictures."""

from __future__ import annotations

import functools
import inspect
import io
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np
from PIL import Image

from genlab.recipes import read_recipe, save_png

log = logging.getLogger("genlab")

HEAVY = "genlab-heavy"  # concurrency_id shared by every event that runs a model
HEAVY_LIMIT = 1  # runs at once across all heavy events (2 CPU cores)


def _as_message(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, ValueError):
        return gr.Error(str(e))
    if isinstance(e, MemoryError):
        return gr.Error("Out of memory for this request: use a smaller size, fewer steps or a smaller batch.")
    log.exception("genlab: unexpected error")  # details stay in the server log, never in the page
    return gr.Error(f"genlab hit an internal error ({type(e).__name__}) and did not finish this request; the server log has details.")


def ui_errors(fn: Callable) -> Callable:
    """Turn every failure into a short gr.Error message (also for generator functions).

    genlab's ValueErrors already say what was wrong and what is allowed; anything else is logged and
    reported without its internals (launch uses show_error=False, so raw exception text never reaches a page).
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                raise _as_message(e) from None

        return gen

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise _as_message(e) from None

    return wrapper

from gradio.events import Dependency

class ImageInput(gr.Image):
    """gr.Image that hands the upload's path to genlab unopened.

    gr.Image opens every upload with Pillow (any format) before the function runs, and a non-image then
    fails with a message that says nothing useful. genlab.images.open_image checks the allowed formats,
    the declared size (before decoding) and corruption, with messages that say what is allowed.
    """

    is_template = True  # the page uses gr.Image's own front end (no __init__ of its own: Gradio reads props from it)

    def preprocess(self, payload):
        if self.type != "filepath":
            raise TypeError("ImageInput passes file paths: create it with type='filepath'.")
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)  # a file Gradio received into its upload cache
        try:
            return super().preprocess(payload)
        except Exception:
            raise gr.Error("Could not read the uploaded image data: send a PNG, JPEG, WebP, BMP or GIF file.") from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Slider(gr.Slider):
    """gr.Slider whose value reaches the function as sent, to be checked there by as_int/as_float.

    API callers skip the slider's bounds, and gr.Slider's own check fails on a wrong type with a raw
    TypeError and lets NaN through; genlab's checks name the setting and its allowed range.
    """

    is_template = True

    def preprocess(self, payload):
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Number(gr.Number):
    """gr.Number whose value reaches the function as sent (see Slider)."""

    is_template = True

    def preprocess(self, payload):
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Pulled:
    """Notices when Gradio stops pulling a generator (the client went away or cancelled the event).

    Gradio resumes a generator right after sending what it yielded; a yield left pending for longer than
    `patience` seconds means nobody is listening, and a worker thread polling `gone()` can stop.
    """

    def __init__(self, patience: float = 3.0):
        self.patience, self.pending_since = patience, None

    def yielding(self) -> None:
        self.pending_since = time.monotonic()

    def resumed(self) -> None:
        self.pending_since = None

    def gone(self) -> bool:
        return self.pending_since is not None and time.monotonic() - self.pending_since > self.patience


class StopFlag:
    """Per-session stop request, kept in gr.State; each new run clears it."""

    def __init__(self):
        self.stopped = False

    def __deepcopy__(self, memo):  # gr.State copies its initial value per session
        return StopFlag()

    def set(self):
        self.stopped = True

    def clear(self):
        self.stopped = False

    def __call__(self) -> bool:
        return self.stopped


def stop_button(flag: gr.State) -> gr.Button:
    btn = gr.Button("Stop", variant="stop")
    btn.click(lambda f: f.set(), inputs=flag, queue=False, api_visibility="private")
    return btn


def as_int(value: Any, name: str, lo: int, hi: int) -> int:
    """API callers skip slider bounds: check every number here."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number (got {value!r}).") from None
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"{name} must be a whole number (got {value!r}).")
    if not lo <= int(f) <= hi:
        raise ValueError(f"{name} must be {lo}-{hi} (got {int(f)}).")
    return int(f)


def as_float(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (got {value!r}).") from None
    if not math.isfinite(f) or not lo <= f <= hi:
        raise ValueError(f"{name} must be a number from {lo:g} to {hi:g} (got {value!r}).")
    return f


def upscale(im: Image.Image, factor: int = 4) -> Image.Image:
    """Nearest-neighbour enlargement so 28x28 images are visible (pixels stay pixels)."""
    return im.resize((im.width * factor, im.height * factor), Image.NEAREST)


def tensor_images(x) -> list[Image.Image]:
    """[B,1,H,W] or [B,3,H,W] tensor in [0,1] -> PIL images."""
    a = (x.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(im[0]) if im.shape[0] == 1 else Image.fromarray(im.transpose(1, 2, 0)) for im in a]


def strip(images: list[Image.Image], *, pad: int = 2) -> Image.Image:
    """Images side by side on a dark background."""
    w, h = sum(im.width for im in images) + pad * (len(images) + 1), max(im.height for im in images) + 2 * pad
    out = Image.new("RGB", (w, h), (24, 24, 24))
    x = pad
    for im in images:
        out.paste(im.convert("RGB"), (x, pad))
        x += im.width + pad
    return out


def save_gif(frames: list[Image.Image], recipe: dict, *, ms: int = 120) -> str:
    """An animated GIF (forth and back) with a generated name, next to the PNG outputs."""
    import json
    import uuid

    from genlab.recipes import output_dir

    path = output_dir() / f"walk-{uuid.uuid4().hex[:12]}.gif"
    seq = [f.convert("RGB") for f in frames]
    seq = seq + seq[-2:0:-1]
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=ms, loop=0, comment=json.dumps(recipe)[:60000])
    return str(path)


def save_outputs(images: list[Image.Image], recipes: list[dict], stem: str) -> list[str]:
    return [str(save_png(im, r, stem=stem)) for im, r in zip(images, recipes)]


def restore(technique: str, names: list[str], path: str | None) -> list:
    """gr.update per control from a dropped genlab PNG's recipe; error if it is another tab's recipe."""
    if not path:
        return [gr.update() for _ in names]
    try:
        recipe = read_recipe(path)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    if recipe["technique"] != technique:
        raise gr.Error(f"That PNG was made by the {recipe['technique']} tab; drop it there.")
    params = dict(recipe["params"])
    if recipe.get("seed") is not None:
        params.setdefault("seed", recipe["seed"])
    gr.Info(f"Settings restored from {Path(path).name}.")
    return [gr.update(value=params[n]) if n in params else gr.update() for n in names]


def recipe_drop(label: str = "Drop a genlab PNG here to restore its settings") -> gr.File:
    return gr.File(label=label, file_types=[".png"], file_count="single", height=90)


def figure_image(fig) -> Image.Image:
    """A matplotlib figure as a PIL image (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def weights_md(label: str) -> str:
    return f"**Weights:** {label}"