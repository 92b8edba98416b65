"""Recipes round-trip through PNGs; image validation refuses bad files before decoding."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from genlab.core.images import open_image
from genlab.core.outputs import save_png
from genlab.core.recipes import make_recipe, read_recipe


def test_recipe_round_trip_restores_the_same_settings():
    import gradio as gr

    from genlab.techniques import gan, vae
    from genlab.ui.wiring import restore_updates

    params = gan.Settings(seed=17, count=1, class_name="Sneaker", truncation=1.5).params()
    path = save_png(Image.new("RGB", (8, 8)), make_recipe(gan.NAME, params, weights="test", seed=17))
    assert read_recipe(path)["params"] == params
    updates = restore_updates(gan, ["seed", "count", "class_name", "truncation"], str(path), ("sample",))
    assert [u["value"] for u in updates] == [17, 1, "Sneaker", 1.5]
    with pytest.raises(gr.Error, match="made by the gan tab"):
        restore_updates(vae, ["seed"], str(path))
    with pytest.raises(gr.Error, match="interpolate action"):
        restore_updates(
            gan,
            ["seed"],
            str(save_png(Image.new("RGB", (8, 8)), make_recipe(gan.NAME, {"action": "interpolate"}, weights="t"))),
            ("sample",),
        )


def test_png_without_recipe_is_refused(tmp_path):
    p = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(p)
    with pytest.raises(ValueError, match="no genlab recipe"):
        read_recipe(p)


def test_output_names_never_come_from_user_text():
    path = save_png(Image.new("RGB", (2, 2)), make_recipe("x", {}, weights="w"), stem="../../etc/passwd")
    assert ".." not in path.name and "/" not in path.name and path.parent.name == "genlab-outputs"


def _png_declaring(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (a decompression bomb's shape)."""

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10000, 20000])
def test_decompression_bomb_refused_before_decoding(tmp_path, side):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_declaring(side, side))
    with pytest.raises(ValueError, match="limit"):
        open_image(p)


@pytest.mark.parametrize(
    "content,why",
    [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image"),
    ],
)
def test_non_images_refused(tmp_path, content, why):
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=why):
        open_image(p)


def test_truncated_image_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    p = tmp_path / "t.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        open_image(p)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "CMYK", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    im = Image.new(mode, (20, 10))
    p = tmp_path / ("x.png" if mode != "CMYK" else "x.jpg")
    im.save(p)
    out = open_image(p)
    assert out.mode == "RGB" and out.size == (20, 10)


def test_transparent_pixels_become_white(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(p)
    assert open_image(p).getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_applied(tmp_path):
    im = Image.new("RGB", (30, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    p = tmp_path / "r.jpg"
    im.save(p, exif=exif)
    assert open_image(p).size == (10, 30)


def test_extreme_aspect_and_tiny_images(tmp_path):
    p = tmp_path / "wide.png"
    Image.new("RGB", (2100, 100)).save(p)
    with pytest.raises(ValueError, match="aspect"):
        open_image(p)
    q = tmp_path / "one.png"
    Image.new("RGB", (1, 1)).save(q)
    assert open_image(q).size == (1, 1)
    with pytest.raises(ValueError, match="at least 16"):
        open_image(q, min_side=16)
