"""Edit: SDEdit image-to-image, RePaint inpainting and outpainting on tiny seeded pipelines (latent and pixel
space), the hub path on a tiny local Stable Diffusion, and every bad input refused with a message."""

import numpy as np
import pytest
import torch
from PIL import Image
from support import (
    assert_same_pictures,
    build_clip_tokenizer_files,
    fixed_models,
    pinned,
    pixels,
    tiny_colour_pipeline,
    tiny_fashion_pipeline,
)

from genlab.core.control import Control, drain
from genlab.core.outputs import save_png
from genlab.core.recipes import read_recipe
from genlab.models.diffusion import COLOUR_MODEL, FASHION_MODEL
from genlab.techniques import edit
from genlab.techniques.edit import engine


@pytest.fixture
def models(monkeypatch):
    pipes = {COLOUR_MODEL: tiny_colour_pipeline(), FASHION_MODEL: tiny_fashion_pipeline()}
    monkeypatch.setattr("genlab.models.diffusion.MODELS", fixed_models(**pipes))
    monkeypatch.setattr("genlab.techniques.text_to_image.pipelines.MODELS", fixed_models(**pipes))
    return pipes


@pytest.fixture
def photo(tmp_path):
    """A 160x120 picture: a red disc on a white ground, a blue bar."""
    im = Image.new("RGB", (160, 120), (255, 255, 255))
    from PIL import ImageDraw

    d = ImageDraw.Draw(im)
    d.ellipse((50, 30, 110, 90), fill=(220, 30, 30))
    d.rectangle((0, 100, 160, 112), fill=(30, 60, 200))
    path = tmp_path / "photo.png"
    im.save(path)
    return str(path)


def mask_file(tmp_path, size=(160, 120), box=(60, 40, 100, 80), name="mask.png"):
    m = Image.new("L", size, 0)
    m.paste(255, box)
    path = tmp_path / name
    m.save(path)
    return str(path)


def settings(**kw):
    return edit.Settings(**{"steps": 4, "batch": 2, "seed": 3, **kw})


def test_strength_zero_returns_the_input_through_the_vae_and_one_is_text_to_image(models, photo):
    from genlab.techniques import text_to_image as t2i

    pipe = models[COLOUR_MODEL]
    r0 = drain(edit.run(settings(strength=0.0), {"image": photo}))
    x = engine.to_tensor(engine.square(Image.open(photo).convert("RGB"), 128), False)
    with torch.inference_mode():
        recon = engine.to_pictures(pipe.decode_latents(pipe.encode_images(x)))[0]
    # no denoising: the VAE's reconstruction (within one level: batch-size float rounding)
    assert np.abs(pixels(r0.images[:1]) - pixels([recon])).max() <= 1
    r1 = drain(edit.run(settings(strength=1.0, prompt="a blue car"), {"image": photo}))
    t = drain(t2i.run(t2i.Settings(prompt="a blue car", steps=4, batch=2, seed=3)))
    assert np.abs(pixels(r1.images) - pixels(t.images)).max() <= 1  # the same noise draw, the same schedule
    half = drain(edit.run(settings(strength=0.5), {"image": photo}))
    d_half = np.abs(pixels(half.images[:1]) - pixels([recon])).mean()
    assert 0 < d_half < np.abs(pixels(r1.images[:1]) - pixels([recon])).mean() + 1e-6


def test_image_to_image_pinned_slice_and_seeds(models, photo):
    s = settings(strength=0.6)
    a = drain(edit.run(s, {"image": photo}))
    got = pixels(a.images)[0, 20:110:15, 20:110:15, 0].ravel()
    assert np.abs(got - I2I_SLICE).max() <= 2, got.astype(int).tolist()
    b = drain(edit.run(s, {"image": photo}))
    assert np.array_equal(pixels(a.images), pixels(b.images))
    one = drain(edit.run(s.replace(seed=4, batch=1), {"image": photo}))
    assert_same_pictures(pixels(one.images)[0], pixels(a.images)[1])  # image i of a batch: seed + i
    assert a.data["frames"] and "strength 0.6" in a.info


I2I_SLICE = pinned(
    "208 118 0 136 120 123 161 74 204 195 95 128 124 140 166 122 154 146 181 63 148 143 88 122 84 134 117 123 136 116 112 209 113 168 134 147"
)


def test_inpainting_keeps_every_pixel_outside_the_mask_and_fills_the_inside(models, photo, tmp_path):
    r = drain(edit.run(settings(action="inpaint", resample=2), {"image": photo, "mask": mask_file(tmp_path)}))
    src = pixels([engine.square(Image.open(photo).convert("RGB"), 128)])[0]
    m = np.asarray(engine.square(Image.open(mask_file(tmp_path)), 128, Image.NEAREST)) > 127
    for out in pixels(r.images):
        assert np.abs(out - src)[~m].mean() <= 2  # the goal: <= 2/255 outside the mask (exactly kept here)
        assert np.abs(out - src)[m].mean() > 10  # and the masked part is new
    assert max(r.data["kept"]) <= 2 and min(r.data["changed"]) > 10
    assert r.data["telea"].size == (128, 128) and "Outside the mask" in r.info
    assert np.abs(pixels([r.data["telea"]])[0] - src)[~m].max() == 0  # Telea keeps the outside too


def test_inpainting_from_the_editor_layers(models, photo, tmp_path):
    layer = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    layer.paste((0, 0, 0, 255), (10, 10, 40, 40))
    lp = tmp_path / "layer.png"
    layer.save(lp)
    r = drain(edit.run(settings(action="inpaint"), {"editor": {"background": photo, "layers": [str(lp)]}}))
    assert len(r.images) == 2 and len(r.recipes[0]["mask_png"]) > 20


def test_recipe_round_trip_keeps_the_mask_and_remakes_the_pixels(models, photo, tmp_path):
    inputs = {"image": photo, "mask": mask_file(tmp_path)}
    first = drain(edit.run(settings(action="inpaint"), inputs))
    recipe = read_recipe(save_png(first.images[0], first.recipes[0]))
    assert recipe["technique"] == "edit" and recipe["input_sha256"] and recipe["mask_sha256"]
    m = engine.mask_from_b64(recipe["mask_png"])
    assert np.array_equal(np.asarray(m) > 127, np.asarray(engine.square(Image.open(inputs["mask"]), 128, 0)) > 127)
    again_from = drain(edit.run(settings(strength=0.5), {"image": str(save_png(first.images[0], first.recipes[0]))}))
    assert again_from.recipes[0]["from"]["technique"] == "edit" and "made by the **edit** tab" in again_from.info
    again = edit.Settings.parse(recipe["params"])
    remade = drain(edit.run(again, inputs))
    assert np.abs(pixels(remade.images[:1]) - pixels(first.images[:1])).max() <= 1


def test_outpainting_extends_the_canvas_and_keeps_the_original(models, photo):
    r = drain(edit.run(settings(action="outpaint", left=32, right=64, up=0, down=32), {"image": photo}))
    assert r.images[0].size == (128 + 96, 128 + 32)
    src = pixels([engine.square(Image.open(photo).convert("RGB"), 128)])[0]
    out = pixels(r.images)[0]
    assert np.abs(out[0:128, 32:160] - src).max() <= 2
    assert np.abs(out[:, 160:] - 255).mean() > 5  # the new right-hand side is drawn, not left white


def test_fashion_model_inpaints_in_pixel_space(models, photo, tmp_path):
    r = drain(edit.run(settings(model=FASHION_MODEL, action="inpaint"), {"image": photo, "mask": mask_file(tmp_path)}))
    assert r.images[0].size == (28, 28)
    o = drain(edit.run(settings(model=FASHION_MODEL, action="outpaint", left=0, right=32), {"image": photo}))
    assert o.images[0].size == (28 + 8, 28)


def test_stop_keeps_a_picture(models, photo):
    ctl, seen = Control(), []
    for item in edit.run(settings(action="outpaint", steps=12), {"image": photo}, ctl):
        seen.append(item)
        if len(seen) == 3:
            ctl.stop.set()
    assert seen[-1].images and seen[-1].stopped == "stop" and "(stopped)" in seen[-1].info
    assert len(seen) <= 6


def test_strength_sweep_is_one_strip(models, photo):
    r = drain(edit.run(settings(action="sweep", steps=2), {"image": photo}))
    assert len(r.images) == 1 and r.images[0].width > 160 * (len(edit.SWEEP) + 1)


@pytest.mark.parametrize(
    "kw, inputs, message",
    [
        (dict(action="inpaint"), {"mask": "SMALL"}, "mask is 40×40 but the picture is 160×120"),
        (dict(action="inpaint"), {"mask": "EMPTY"}, "The mask is empty"),
        (dict(action="inpaint"), {"mask": "FULL"}, "covers the whole picture"),
        (dict(action="inpaint"), {"mask": "TEXT"}, "not an image genlab accepts"),
        (dict(action="image_to_image"), {"image": None}, "Upload a picture"),
    ],
)
def test_bad_edit_inputs_are_refused_with_a_message(models, photo, tmp_path, kw, inputs, message):
    files = {
        "SMALL": mask_file(tmp_path, size=(40, 40), box=(0, 0, 10, 10), name="small.png"),
        "EMPTY": mask_file(tmp_path, box=(0, 0, 0, 0), name="empty.png"),
        "FULL": mask_file(tmp_path, box=(0, 0, 160, 120), name="full.png"),
    }
    (tmp_path / "notes.png").write_text("not a picture")
    files["TEXT"] = str(tmp_path / "notes.png")
    given = {"image": photo, **{k: files.get(v, v) if isinstance(v, str) else v for k, v in inputs.items()}}
    with pytest.raises(ValueError, match=message):
        drain(edit.run(settings(**kw), given))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(strength=float("nan")), "strength must be a number from 0 to 1"),
        (dict(strength=1.5), "strength must be a number from 0 to 1"),
        (dict(right=160), "right must be 0-128"),
        (dict(left=20), "multiples of 32"),
        (dict(action="outpaint", right=0), "Choose how far to extend"),
        (dict(resample=0), "resample must be 1-10"),
        (dict(model="some/other-model"), "not offered here"),
    ],
)
def test_bad_edit_settings_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        edit.Settings.parse({**kw})


# ---------------------------------------------------------------- the hub path, on a tiny local pipeline
@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory):
    from support import tiny_sd

    clip = build_clip_tokenizer_files(tmp_path_factory.mktemp("clip"))
    return tiny_sd(clip, tmp_path_factory.mktemp("tiny-sd"))


def test_hub_path_inpaints_and_edits_with_diffusers_pipelines(tiny_sd_dir, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_T2I_MODELS", tiny_sd_dir)
    s = settings(model=tiny_sd_dir, steps=3, batch=1)
    src = engine.square(Image.open(photo).convert("RGB"), edit.HUB_SIDE)
    big_mask = mask_file(tmp_path, box=(60, 40, 100, 80))
    r = drain(edit.run(s.replace(action="inpaint"), {"image": photo, "mask": big_mask}))
    m = np.asarray(engine.square(Image.open(big_mask), edit.HUB_SIDE, Image.NEAREST)) > 127
    out = pixels(r.images)[0]
    assert r.images[0].size == (512, 512) and np.abs(out - pixels([src])[0])[~m].max() == 0
    i2i = drain(edit.run(s.replace(strength=0.7), {"image": photo}))
    assert i2i.images[0].size == (512, 512) and "Weights" in i2i.info
