"""Image input and validation shared by every tab: explicit formats, size checked before decoding."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # opened by Pillow with formats= this list
MAX_PIXELS = 36_000_000  # declared width*height above this is refused before decoding (6000x6000)
MAX_ASPECT = 20.0  # long side / short side
# Pillow's own guard only for absurd sizes: Gradio opens uploads (header only) before genlab sees them, and
# genlab's MAX_PIXELS check, with its clear message, must be the one that answers.
Image.MAX_IMAGE_PIXELS = 500_000_000


def open_image(
    src: str | os.PathLike | Image.Image | np.ndarray, *, min_side: int = 1, keep_alpha: bool = False
) -> Image.Image:
    """Open, check and normalise an image to RGB (RGBA when keep_alpha and the image has transparency).

    Refuses formats outside ALLOWED_FORMATS, images that declare more than MAX_PIXELS (checked from the
    header, before any pixel is decoded), extreme aspect ratios and images smaller than min_side.
    EXIF rotation is applied; transparency is composited on white; CMYK, 16-bit, palette and greyscale
    images are converted to 8-bit RGB.
    """
    if isinstance(src, np.ndarray):
        src = Image.fromarray(_to_uint8(src))
    if isinstance(src, Image.Image):
        im = src
        _check_size(im.size, "image")
    else:
        path = Path(src)
        name = path.name
        if not path.is_file():
            raise ValueError(f"No image file at {name!r}.")
        if path.stat().st_size == 0:
            raise ValueError(f"{name} is empty (0 bytes): upload a PNG, JPEG, WebP, BMP or GIF image.")
        try:
            im = Image.open(path, formats=ALLOWED_FORMATS)
        except UnidentifiedImageError:
            raise ValueError(
                f"{name} is not an image genlab accepts: allowed formats are {', '.join(ALLOWED_FORMATS)}."
            ) from None
        except Image.DecompressionBombError:
            raise ValueError(f"{name} declares too many pixels; the limit is {MAX_PIXELS:,}.") from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # a header cut short or malformed
            raise ValueError(f"{name} is corrupt or truncated ({e}).") from None
        _check_size(im.size, name)
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ValueError(f"{name} is corrupt or truncated ({e}).") from None
    if min(im.size) < min_side:
        raise ValueError(f"Image is {im.width}x{im.height}: at least {min_side} px on each side is needed.")
    im = ImageOps.exif_transpose(im)
    if keep_alpha and (im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)):
        return im.convert("RGBA")
    return to_rgb(im)


def editor_parts(value, composite: bool = False) -> tuple[str | None, list[str]]:
    """(picture path, mask layer paths) from a gr.ImageEditor value (dict), or a plain path. The picture is the
    background (inpainting: the strokes are the mask), or with composite=True what the person sees, strokes
    included (image-to-image from a sketch)."""
    if value is None or isinstance(value, (str, Path)):
        return (str(value) if value else None), []
    if isinstance(value, dict):
        order = ("composite", "background") if composite else ("background", "composite")
        pic = next((value[k] for k in order if value.get(k)), None)
        layers = [p for p in (value.get("layers") or []) if p]
        return (str(pic) if pic else None), [str(p) for p in layers]
    raise ValueError("The picture must be an uploaded image file.")


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise ValueError(f"{name} is {w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,} (6000x6000).")
    if w < 1 or h < 1:
        raise ValueError(f"{name} has no pixels.")
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise ValueError(f"{name} is {w}x{h}: aspect ratios beyond {MAX_ASPECT:g}:1 are not supported.")


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    if a.max(initial=0) > 1.0:
        a = a / (65535.0 if a.max() > 255 else 255.0)
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB: alpha composited on white, 16-bit scaled, CMYK/palette/grey converted."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray((a / max(a.max(), 1) * 255 + 0.5).astype(np.uint8))
    if im.mode == "F":
        im = Image.fromarray(_to_uint8(np.asarray(im)))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return im.convert("RGB")


def resize_long_side(im: Image.Image, long_side: int) -> Image.Image:
    """Resize so the longer side is long_side px, keeping the aspect ratio (each side >= 1)."""
    scale = long_side / max(im.size)
    w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    return im.resize((w, h), Image.LANCZOS)


# ---------------------------------------------------------------- tensors <-> pictures


def to_tensor(im: Image.Image, device=None):
    """RGB picture -> float tensor [1,3,H,W] in [0,1]."""
    import torch

    a = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    return a.permute(2, 0, 1)[None].to(device or "cpu").contiguous()


def to_pictures(x, *, value_range: tuple[float, float] = (0.0, 1.0)) -> list[Image.Image]:
    """Tensor [B,1,H,W] or [B,3,H,W] with values in value_range -> greyscale or RGB pictures."""
    lo, hi = value_range
    a = ((x.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1).mul(255).round().byte().numpy()
    return [Image.fromarray(im[0]) if im.shape[0] == 1 else Image.fromarray(im.transpose(1, 2, 0)) for im in a]


def to_picture(x) -> Image.Image:
    """Tensor [1,3,H,W] in [0,1] -> one RGB picture."""
    return to_pictures(x)[0]


def enlarge(im: Image.Image, factor: int = 4) -> Image.Image:
    """Nearest-neighbour enlargement so tiny images are visible (pixels stay pixels)."""
    return im.resize((im.width * factor, im.height * factor), Image.NEAREST)


def strip(images: list[Image.Image], *, pad: int = 2) -> Image.Image:
    """Images side by side on a dark background."""
    w, h = sum(im.width for im in images) + pad * (len(images) + 1), max(im.height for im in images) + 2 * pad
    out = Image.new("RGB", (w, h), (24, 24, 24))
    x = pad
    for im in images:
        out.paste(im.convert("RGB"), (x, pad))
        x += im.width + pad
    return out


def labelled(im: Image.Image, text: str) -> Image.Image:
    """A copy of im with text in its top-left corner, on a dark band so it reads on any picture."""
    from PIL import ImageDraw, ImageFont

    im = im.convert("RGB")
    font = ImageFont.load_default(size=max(12, im.height // 14))
    draw = ImageDraw.Draw(im)
    *_, right, bottom = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((0, 0, right + 6, bottom + 4), fill=(0, 0, 0))
    draw.text((6, 4), text, fill=(255, 220, 0), font=font)
    return im
