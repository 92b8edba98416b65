"""Hardening through the running app and the real API client: bad files, bad numbers, limits, file access, memory.

Every bad input must come back as a short gr.Error naming what was wrong and what is allowed, and the server
must stay healthy (a good call right after still works).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, rss_mb
from PIL import Image

OFFLINE = "genlab Fashion-MNIST text-to-image (offline)"
OFFLINE_COLOUR = "genlab colour latent diffusion (offline)"
PHOTO = ROOT / "examples/content/chelsea.jpg"
PAINTING = ROOT / "examples/styles/hokusai_great_wave.jpg"
LINES = ROOT / "examples/control/apple-lines.png"


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def _png(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG", **kw)
    return buf.getvalue()


def _png_declaring(w: int, h: int) -> bytes:
    """A 60-byte PNG whose header declares w x h pixels (a decompression bomb's shape)."""

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def _psd(w=8, h=8) -> bytes:
    """A valid 8-bit RGB Photoshop file (header, empty sections, raw planes)."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3) + struct.pack(">III", 0, 0, 0)
    return head + struct.pack(">H", 0) + bytes(3 * w * h)


def _fits(w=8, h=8) -> bytes:
    """A valid FITS image (astronomy format Pillow can read)."""
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        f"NAXIS1  = {w:20d}",
        f"NAXIS2  = {h:20d}",
        "END",
    ]
    header = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
    return header + bytes(w * h).ljust(2880, b"\0")


def _corrupt_png() -> bytes:
    data = bytearray(_png(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    i = data.index(b"IDAT") + 40
    data[i : i + 200] = b"\xff" * 200  # deflate stream destroyed, header intact
    return bytes(data)


def _jpeg(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG")
    return buf.getvalue()


_RGB = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)

# name -> (bytes, words the message must contain)
BAD_FILES = {
    "empty.png": (b"", "empty"),
    "notes.png": (b"these are my notes, not a picture\n" * 4, "not an image genlab accepts"),
    "script.jpg": (b"#!/bin/sh\necho hello\n", "not an image genlab accepts"),
    "corrupt.png": (_corrupt_png(), "corrupt or truncated"),
    "truncated.jpg": (_jpeg(_RGB)[:600], "corrupt or truncated"),
    "drawing.svg": (
        b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='10' height='10'/></svg>",
        "not an image genlab accepts",
    ),
    "layers.psd": (_psd(), "not an image genlab accepts"),
    "sky.fits": (_fits(), "not an image genlab accepts"),
    "scan.tiff": (None, "not an image genlab accepts"),
    "bomb10k.png": (_png_declaring(10_000, 10_000), "limit is 36,000,000"),
    "bomb20k.png": (_png_declaring(20_000, 20_000), "limit is 36,000,000"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    out = {}
    for name, (data, why) in BAD_FILES.items():
        if data is None:  # a real TIFF
            Image.fromarray(_RGB).save(d / name, "TIFF")
        else:
            (d / name).write_bytes(data)
        out[name] = (d / name, why)
    return out


def _good():
    from gradio_client import handle_file

    return handle_file(str(PHOTO))


# Every image input of every tab: endpoint, and its arguments with `bad` in one image slot
QUICK_STYLE = dict(size=128, steps=1, coarse_steps=0, levels=1)
IMAGE_SLOTS = {
    "style content": ("/style_transfer", lambda bad, good: dict(content=bad, style=good, style2=None, **QUICK_STYLE)),
    "style painting": ("/style_transfer", lambda bad, good: dict(content=good, style=bad, style2=None, **QUICK_STYLE)),
    "second painting": ("/style_transfer", lambda bad, good: dict(content=good, style=good, style2=bad, **QUICK_STYLE)),
    "fast content": ("/style_transfer_fast", lambda bad, good: dict(content=bad, style=good, size=128)),
    "fast painting": ("/style_transfer_fast", lambda bad, good: dict(content=good, style=bad, size=128)),
    "dream picture": ("/deep_dream", lambda bad, good: dict(image=bad, size=64, octaves=1, iterations=1)),
    "upscale picture": ("/upscale", lambda bad, good: dict(image=bad, factor=2)),
    "vae upload": ("/vae_reconstruct", lambda bad, good: dict(image=bad, sketch=None)),
    "vae start": ("/vae_interpolate", lambda bad, good: dict(image_a=bad, image_b=good)),
    "vae end": ("/vae_interpolate", lambda bad, good: dict(image_a=good, image_b=bad)),
    "edit mask": ("/inpaint", lambda bad, good: dict(editor=_editor(good), mask=bad, steps=1, batch=1)),
    "latent space picture": ("/latent_space", lambda bad, good: dict(image=bad)),
    "control sketch": ("/control", lambda bad, good: dict(sketch=_editor(bad), steps=1, batch=1, compare=False)),
}


def _editor(picture) -> dict:
    """A gr.ImageEditor value as an API caller sends it: the picture as background, no painted layers."""
    return {"background": picture, "layers": [], "composite": picture}


def _call(client, endpoint: str, **kw):
    """Call an endpoint by parameter name (gradio_client fills in the others' defaults)."""
    return client.predict(**kw, api_name=endpoint)


@pytest.mark.parametrize("slot", list(IMAGE_SLOTS))
def test_every_image_input_refuses_every_bad_file(client, bad_files, slot, app_server):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    endpoint, build = IMAGE_SLOTS[slot]
    pid = app_server[1].pid
    for name, (path, why) in bad_files.items():
        rss_before = rss_mb(pid)[0]
        with pytest.raises(AppError) as e:
            _call(client, endpoint, **build(handle_file(str(path)), _good()))
        assert why in str(e.value), (slot, name, str(e.value))
        assert len(str(e.value)) < 300, str(e.value)
        if name.startswith("bomb"):  # refused from the header: no 100-400 MP buffer was ever allocated
            assert rss_mb(pid)[0] - rss_before < 150, (name, rss_before, rss_mb(pid))
    # the server is healthy afterwards
    out = _call(client, "/vae_reconstruct", image=_good(), sketch=None)
    assert Path(out[0]).is_file()


def _odd_images(d: Path) -> dict[str, Path]:
    rgb = np.random.default_rng(2).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    out = {}
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg", "JPEG")
    Image.fromarray((np.linspace(0, 65535, 60 * 90).reshape(60, 90)).astype(np.uint16)).save(d / "deep16.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE).save(d / "palette.png")
    Image.fromarray(rgb).convert("L").save(d / "grey.png")
    rgba = np.dstack([rgb, np.zeros((60, 90), np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "transparent.png")
    im = Image.fromarray(rgb)  # stored 90 wide x 60 high, EXIF says rotate 90: shown 60 wide x 90 high
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(d / "rotated.jpg", "JPEG", exif=exif)
    Image.fromarray(rgb[:1, :1]).save(d / "one.png")
    Image.fromarray(np.zeros((10, 400, 3), np.uint8)).save(d / "strip.png")
    for name in (
        "cmyk.jpg",
        "deep16.png",
        "palette.png",
        "grey.png",
        "transparent.png",
        "rotated.jpg",
        "one.png",
        "strip.png",
    ):
        out[name] = d / name
    return out


def test_unusual_but_valid_images_are_converted_or_refused_with_a_reason(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    odd = _odd_images(tmp_path)
    style = handle_file(str(PAINTING))
    for name, path in odd.items():
        if name in ("one.png", "strip.png"):
            with pytest.raises(AppError, match=r"at least 16 px|aspect ratios beyond 20"):
                _call(client, "/style_transfer_fast", content=handle_file(str(path)), style=style, size=128)
            continue
        out = _call(client, "/style_transfer_fast", content=handle_file(str(path)), style=style, size=128)
        im = Image.open(out[0])
        assert im.mode == "RGB" and max(im.size) == 128, (name, im.size, im.mode)
        if name == "rotated.jpg":
            assert im.height > im.width  # EXIF orientation applied
        else:
            assert im.width > im.height, name
    # the VAE takes even a 1x1 picture (it becomes 28x28); the 40:1 strip is refused with the reason
    out = _call(client, "/vae_reconstruct", image=handle_file(str(odd["one.png"])), sketch=None)
    assert Path(out[0]).is_file()
    with pytest.raises(AppError, match="aspect ratios beyond 20"):
        _call(client, "/vae_reconstruct", image=handle_file(str(odd["strip.png"])), sketch=None)
    # a transparent picture is composited on white, not on black
    rec = _call(client, "/vae_reconstruct", image=handle_file(str(odd["transparent.png"])), sketch=None)
    assert Path(rec[0]).is_file()


BAD_NUMBERS = [
    ("/text_to_image", {"steps": 10**6}, "steps must be 1-1000"),
    ("/text_to_image", {"steps": "many"}, "steps must be a whole number"),
    ("/text_to_image", {"steps": 2.5}, "steps must be a whole number"),
    ("/text_to_image", {"seed": -1}, "seed must be"),
    ("/text_to_image", {"seed": 2**64}, "seed must be"),
    ("/text_to_image", {"size": 10**5}, "size must be"),
    ("/text_to_image", {"batch": 0}, "batch must be"),
    ("/text_to_image", {"prompt": ""}, "cannot be empty"),
    ("/text_to_image", {"prompt": "x" * 100_000}, "the limit is 1000"),
    ("/text_to_image", {"prompt": None}, "must be text"),
    ("/text_to_image", {"model": "../../../../etc"}, "is not offered here"),
    ("/text_to_image", {"scheduler": "magic"}, "scheduler must be one of DPM-Solver++"),
    ("/text_to_image_grid", {"steps": 10**6}, "steps must be 1-1000"),
    ("/gan_interpolate", {"frames": 0}, "frames must be"),
    ("/gan_sample", {"count": 10**6}, "count must be"),
    ("/vae_interpolate", {"frames": 0}, "frames must be"),
    ("/style_transfer", {"size": 10**5}, "size must be 128-1024"),
    ("/style_transfer", {"steps": 10**6}, "steps must be 1-1000"),
    ("/style_transfer", {"size": 1024, "steps": 1000}, "pixel-steps"),  # within every bound, over the work budget
    ("/style_transfer_fast", {"strength": 7}, "strength must be a number from 0 to 1"),
    ("/deep_dream", {"layer": "relu3_1", "channel": 256}, "relu3_1 has 256 channels (0-255)"),
    ("/deep_dream", {"layer": "fc7"}, "layer must be one of relu3_1"),
    ("/deep_dream", {"octaves": 9}, "octaves must be 1-8"),
    ("/deep_dream", {"step_size": "big"}, "step_size must be a number from 0.001 to 0.1"),
    ("/deep_dream", {"image": None}, "Give a picture to dream on"),
    ("/deep_dream", {"size": 1024, "octaves": 8, "iterations": 200, "octave_scale": 1.1}, "pixel-steps"),
    ("/deep_dream_channels", {"channel": -2}, "channel must be -1-511"),
    ("/upscale", {"factor": 8}, "factor must be 2-4"),
    ("/upscale", {"model": "esrgan-99x"}, "is not in the list of choices: ['realesrgan-x4plus'"),  # gr.Radio checks
    ("/upscale", {"model": "realesrgan-x4plus", "denoise": 2}, "denoise levels belong to waifu2x"),
    ("/upscale", {"tile": 8}, "tile must be 64-1024"),
    ("/upscale", {"image": None}, "Give a picture to upscale"),
    ("/image_to_image", {"strength": 1.5}, "strength must be a number from 0 to 1"),
    ("/image_to_image", {"editor": None}, "Upload a picture to edit"),
    ("/image_to_image", {"resample": 0}, "resample must be 1-10"),
    ("/inpaint", {"mask": None}, "The mask is empty"),
    ("/inpaint", {"mask": "FILE:mask-small"}, "The mask is 40×40 but the picture is"),
    ("/inpaint", {"mask": "FILE:mask-full"}, "The mask covers the whole picture"),
    ("/outpaint", {"right": 256}, "right must be 0-128"),
    ("/outpaint", {"right": 20}, "multiples of 32"),
    ("/outpaint", {"right": 0}, "Choose how far to extend"),
    ("/edit_strength_sweep", {"steps": 10**4}, "steps must be 1-150"),
    ("/latent_space", {"image": None}, "Upload a picture to encode"),
    ("/compare", {"count": 0}, "count must be 1-32"),
    ("/compare", {"class_name": "Dragon"}, "class_name must be one of any"),
    ("/compare", {"steps": 10**6}, "steps must be 1-100"),
    ("/train_live", {"steps": 10**6}, "steps must be 10-2000"),
    ("/train_live", {"steps": 20, "every": 100}, "must not exceed steps"),
    ("/control", {"strength": 5}, "strength must be a number from 0 to 4"),
    ("/control", {"start": 0.9, "end": 0.5}, "must be below Control until"),
    ("/control", {"batch": 99}, "batch must be 1-8"),
    ("/control", {"source": "depth"}, "is not in the list of choices"),
    ("/control", {"sketch": None}, "Draw lines on the canvas"),
    ("/control", {"sketch": "EDITOR:blank"}, "The canvas is blank"),
    ("/control", {"sketch": "EDITOR:photo"}, "for a photo or a filled drawing, choose edges"),
    ("/control", {"sketch": "EDITOR:blank", "source": "contours"}, "The canvas is blank"),
    ("/control", {"sketch": "EDITOR:blank", "source": "soft edges"}, "The canvas is blank"),
    ("/control", {"model": "someone/any-model"}, "is not offered in Control"),
]


def _file(name: str) -> str:
    """Test files named in BAD_NUMBERS, made on first use."""
    import tempfile

    path = Path(tempfile.gettempdir()) / f"genlab-hardening-{name}.png"
    if name == "mask-small":
        Image.new("L", (40, 40), 255).save(path)
    elif name == "mask-full":
        Image.open(PHOTO).convert("L").point(lambda _: 255).save(path)
    return str(path)


def _with(endpoint, change: dict) -> dict:
    """Good arguments for the endpoint (by parameter name), with `change` applied."""
    from gradio_client import handle_file

    photo, painting = handle_file(str(PHOTO)), handle_file(str(PAINTING))
    edit = dict(editor=_editor(photo), steps=2, batch=1)
    good = {
        "/image_to_image": edit,
        "/inpaint": dict(edit, mask=None),
        "/outpaint": edit,
        "/edit_strength_sweep": edit,
        "/style_transfer": dict(content=photo, style=painting, style2=None, **QUICK_STYLE),
        "/style_transfer_fast": dict(content=photo, style=painting),
        "/vae_interpolate": dict(image_a=photo, image_b=photo),
        "/deep_dream": dict(image=photo, size=64, octaves=1, iterations=1),
        "/upscale": dict(image=photo, factor=2),
        "/text_to_image": dict(prompt="a pair of sneakers", model=OFFLINE),
        "/text_to_image_grid": dict(prompt="a bag", model=OFFLINE),
        "/control": dict(sketch=_editor(handle_file(str(LINES))), steps=2, batch=1, compare=False),
    }
    editors = {"blank": ROOT / "examples/edit/blank.png", "photo": PHOTO}
    change = {
        k: handle_file(_file(v[5:]))
        if isinstance(v, str) and v.startswith("FILE:")
        else _editor(handle_file(str(editors[v[7:]])))
        if isinstance(v, str) and v.startswith("EDITOR:")
        else v
        for k, v in change.items()
    }
    return {**good.get(endpoint, {}), **change}


@pytest.mark.parametrize("endpoint,change,why", BAD_NUMBERS, ids=[f"{e}-{next(iter(c))}" for e, c, _ in BAD_NUMBERS])
def test_bad_numbers_and_text_through_the_api(client, endpoint, change, why):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        _call(client, endpoint, **_with(endpoint, change))
    assert why in str(e.value), str(e.value)
    assert len(str(e.value)) < 300


EDIT_RAW = (
    f'[null, "a cat", "", "{OFFLINE_COLOUR}", STRENGTH, 2, 5, "DDIM", 1, 0, 64, 0, 0, 0, 1, 1, null]'  # settings first;
)
# the last two: adapter scale and the optional adapter file


CONTROL_RAW = (  # sketch, prompt, negative, source, strength, start, end, steps, guidance, seed, batch, model, compare
    f'[null, "a red apple", "", "lines", STRENGTH, 0, 1, 2, 5, 0, 1, "{OFFLINE_COLOUR}", false]'
)
TEACH_RAW = (  # pictures, method, prompt, token, class prompt, rank, steps, lr, prior, flip, every, model, seed, images
    f'["tiger", "lora", "a sks tiger", "sks", "a cat", 8, 10, LR, true, true, 10, "{OFFLINE_COLOUR}", 0, []]'
)


def _raw_call(app_url: str, endpoint: str, data_json: str) -> str:
    """POST raw JSON to the REST API (gradio_client cannot send NaN or Infinity; a raw caller can) and
    return the event stream's text."""
    req = urllib.request.Request(
        f"{app_url}/gradio_api/call{endpoint}",
        data=('{"data": ' + data_json + "}").encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        event_id = __import__("json").loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{app_url}/gradio_api/call{endpoint}/{event_id}", timeout=120) as r:
        return r.read().decode()


@pytest.mark.parametrize(
    "endpoint,data,why",
    [
        ("/text_to_image", f'["a bag", "", "{OFFLINE}", 4, NaN, "DDIM", 0, 512, 1, 1, null]', "guidance must be"),
        ("/text_to_image", f'["a bag", "", "{OFFLINE}", 4, Infinity, "DDIM", 0, 512, 1, 1, null]', "guidance must be"),
        (
            "/text_to_image",
            f'["a bag", "", "{OFFLINE}", NaN, 3, "DDIM", 0, 512, 1, 1, null]',
            "steps must be a whole number",
        ),
        ("/gan_sample", '[0, 4, "any", NaN, null]', "truncation must be"),  # null: the optional weights
        ("/image_to_image", EDIT_RAW.replace("STRENGTH", "NaN"), "strength must be a number"),
        ("/vae_sample", "[0, 4, -Infinity, null]", "temperature must be"),
        ("/gan_sample", '[0, [4], "any", 0, null]', "count must be a whole number"),
        ("/teach", TEACH_RAW.replace("LR", "NaN"), "lr must be a number"),
        ("/teach", TEACH_RAW.replace("LR", "Infinity"), "lr must be a number"),
        ("/control", CONTROL_RAW.replace("STRENGTH", "NaN"), "strength must be a number"),
        ("/control", CONTROL_RAW.replace("STRENGTH", "-Infinity"), "strength must be a number"),
    ],
)
def test_nan_infinity_and_wrong_types_from_a_raw_caller(app_url, endpoint, data, why):
    text = _raw_call(app_url, endpoint, data)
    assert "event: error" in text and why in text, text[:500]


def test_path_like_prompt_never_reaches_a_file_name(client):
    from genlab.core.recipes import read_recipe

    prompt = "../../../etc/passwd a pair of sneakers/..\\..%2e%2e"
    out = _call(client, "/text_to_image", **_with("/text_to_image", {"prompt": prompt, "steps": 4, "batch": 2}))
    for item in out[0]:
        p = Path(item["image"])
        assert ".." not in p.name and "passwd" not in p.name and p.suffix == ".png"
        assert read_recipe(p)["params"]["prompt"] == prompt  # kept as data in the recipe, not as a path


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        str(ROOT / "app.py"),
        str(ROOT / "weights/dcgan.safetensors"),
        str(Path.home() / ".cache/genlab"),
        "../../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        str(ROOT / "examples/../app.py"),
        "/proc/self/environ",
    ],
)
def test_no_file_outside_the_app_folders_is_served(app_url, path):
    for url in (
        f"{app_url}/gradio_api/file={path}",
        f"{app_url}/gradio_api/file={urllib.parse.quote(path)}",
        f"{app_url}/file={path}",
    ):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            assert e.code in (400, 403, 404, 405), (url, e.code)
            continue
        # a 200 may only be the app's HTML page (an unknown route), never the file itself
        assert b"root:" not in body and b"import gradio" not in body and b"__metadata__" not in body, url
        assert body.lstrip()[:15].lower().startswith(b"<!doctype html"), (url, body[:80])


def test_examples_folder_is_served_on_purpose(app_url):
    with urllib.request.urlopen(f"{app_url}/gradio_api/file={ROOT / 'examples/content/chelsea.jpg'}", timeout=10) as r:
        assert r.read()[:2] == b"\xff\xd8"  # the allowed example photo (allowed_paths = examples/ only)


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = "/tmp/genlab_hardening_marker"


@pytest.mark.parametrize("name", ["vgg.pt", "vgg.bin", "vgg.safetensors"])
def test_malicious_pickle_weights_are_refused_by_the_resolver(tmp_path, monkeypatch, name):
    import torch

    from genlab.models import vgg

    if os.path.exists(MARKER):
        os.remove(MARKER)
    p = tmp_path / name
    p.write_bytes(pickle.dumps(_Boom())) if name.endswith(".bin") else torch.save({"w": _Boom()}, p)
    # the payload is real: unpickling it would create the marker
    check = tmp_path / "control.pkl"
    check.write_bytes(pickle.dumps(_Boom()))
    pickle.loads(check.read_bytes())
    assert os.path.exists(MARKER)
    os.remove(MARKER)
    monkeypatch.setenv("GENLAB_VGG_WEIGHTS", str(p))
    with pytest.raises(ValueError, match=r"pickle|not a safetensors"):
        vgg.load_vgg()
    assert not os.path.exists(MARKER)


def test_wrong_shape_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from genlab.models import vgg

    p = tmp_path / "small.safetensors"
    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, str(p))
    monkeypatch.setenv("GENLAB_VGG_WEIGHTS", str(p))
    with pytest.raises(ValueError, match=r"lack|do not fit|not a VGG"):
        vgg.load_vgg()


def test_weights_from_train_live_load_through_the_api_and_nothing_else_does(client, tmp_path):
    """Train live's download -> the GAN/VAE tabs' "Your weights" input; every other file there is refused."""
    import torch
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from safetensors.torch import save_file

    trained = {}
    for preset in ("gan-stable", "vae-beta-1"):
        out = client.predict(preset=preset, steps=10, every=10, seed=1, api_name="/train_live")
        trained[preset[:3]] = out[3]
    gallery, info = client.predict(seed=1, count=2, weights=handle_file(trained["gan"]), api_name="/gan_sample")
    assert len(gallery) == 2 and "yours — trained in Train live (gan-stable, 10 steps, seed 1" in info
    gallery, info = client.predict(seed=1, count=2, weights=handle_file(trained["vae"]), api_name="/vae_sample")
    assert len(gallery) == 2 and "yours — trained in Train live (vae-beta-1" in info

    if os.path.exists(MARKER):
        os.remove(MARKER)
    torch.save({"w": _Boom()}, tmp_path / "boom.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "photo.safetensors").write_bytes(PHOTO.read_bytes())
    cases = [
        ("/gan_sample", tmp_path / "boom.safetensors", "is a pickle"),
        ("/vae_sample", tmp_path / "plain.safetensors", "not one from genlab's Train live tab"),
        ("/gan_sample", tmp_path / "photo.safetensors", "not a valid safetensors file"),
        ("/gan_sample", Path(trained["vae"]), "holds a Train-live VAE: load it in the VAE tab"),
        ("/vae_reconstruct", Path(trained["gan"]), "holds a Train-live GAN: load it in the GAN tab"),
    ]
    for endpoint, path, why in cases:
        extra = dict(image=_good(), sketch=None) if endpoint == "/vae_reconstruct" else {}
        with pytest.raises(AppError) as e:
            client.predict(weights=handle_file(str(path)), **extra, api_name=endpoint)
        assert why in str(e.value) and len(str(e.value)) < 300, (endpoint, path.name, str(e.value))
    with pytest.raises(AppError, match="unconditional: it cannot be asked for Bag"):
        client.predict(class_name="Bag", weights=handle_file(trained["gan"]), api_name="/gan_sample")
    assert not os.path.exists(MARKER)
    gallery, info = client.predict(seed=1, count=2, api_name="/gan_sample")  # healthy, and back to genlab's weights
    assert len(gallery) == 2 and "yours" not in info


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds_to_idle(pid: int, start, halt, *, limit: float = 30) -> tuple[float, float]:
    """Start work and check the server computes (CPU s used in 2 s); halt it; return (that, seconds until the
    server's CPU use falls under 0.25 s per second)."""
    start()
    time.sleep(8)
    c0 = _cpu_seconds(pid)
    time.sleep(2)
    busy = _cpu_seconds(pid) - c0
    halt()
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c = _cpu_seconds(pid)
        time.sleep(1)
        if _cpu_seconds(pid) - c < 0.25:
            return busy, time.monotonic() - t0 - 1
    return busy, float("inf")


@pytest.mark.parametrize("endpoint", ["/style_transfer", "/text_to_image"])
def test_cancel_or_disconnect_stops_the_work(app_server, endpoint):
    """A client that cancels (gradio_client's job.cancel; a closed page does the same) stops the server's work:
    style transfer yields after every L-BFGS iteration and is not resumed; text-to-image's worker thread
    notices within 3 s that nobody pulls its updates. Without that, both runs would go on for minutes."""
    from gradio_client import Client, handle_file

    url, proc = app_server
    c = Client(url, verbose=False)
    if endpoint == "/style_transfer":
        kw = dict(
            content=handle_file(str(PHOTO)),
            style=handle_file(str(PAINTING)),
            style2=None,
            size=256,
            steps=500,
            coarse_steps=0,
            levels=1,
        )
    else:
        kw = dict(prompt="a coat", model=OFFLINE, steps=1000, batch=64, scheduler="DDPM (ancestral)")
    job = {}
    busy, to_idle = _seconds_to_idle(
        proc.pid, lambda: job.update(j=c.submit(**kw, api_name=endpoint)), lambda: job["j"].cancel()
    )
    assert busy > 0.5, f"the server was not computing ({busy:.2f} CPU s in 2 s)"
    assert to_idle < 10, f"the server kept computing {to_idle:.0f} s after the cancel"
    out = c.predict(0, 4, "any", 0, api_name="/gan_sample")  # and it serves the next request
    assert len(out[0]) == 4
