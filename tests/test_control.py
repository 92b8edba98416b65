"""Control: edge maps, the edge-alignment F1, scribble augmentation, the ControlNet in the colour pipeline (tiny
seeded models) and the tab's run() with its refusals; then the shipped ControlNet."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from support import EXAMPLES, assert_same_pictures, fixed_models, photo_file, pixels, tiny_colour_pipeline
from support import tiny_controlnet as make_tiny_controlnet

from genlab.colour import control
from genlab.core.control import drain
from genlab.models import diffusion
from genlab.techniques import control as tab
from genlab.techniques.control import engine

LINES = EXAMPLES / "control" / "apple-lines.png"


def square_outline(side: int = 128, lo: int = 32, hi: int = 96) -> np.ndarray:
    e = np.zeros((side, side), np.uint8)
    e[lo, lo:hi] = e[hi, lo:hi] = e[lo:hi, lo] = e[lo:hi, hi] = 255
    return e


def test_edge_f1_matches_within_two_pixels_only():
    e = square_outline()
    assert control.edge_f1(e, e) == 1.0
    assert control.edge_f1(np.roll(e, 2, axis=0), e) == pytest.approx(1.0, abs=0.02)  # 2 px: still a match
    assert control.edge_f1(np.roll(e, 6, axis=0), e) < 0.55  # only the vertical sides still match
    assert control.edge_f1(np.zeros_like(e), e) == 0.0
    assert control.edge_f1(np.zeros_like(e), np.zeros_like(e)) == 1.0


def test_canny_finds_the_outline_of_a_filled_shape():
    pic = np.full((128, 128, 3), 255, np.uint8)
    pic[32:97, 32:97] = (200, 30, 30)
    edges = control.canny(pic)
    assert edges.shape == (128, 128) and edges.dtype == np.uint8
    assert control.edge_f1(edges, square_outline()) > 0.9
    assert control.canny(pic[None]).shape == (1, 128, 128)


def test_scribble_thickens_and_breaks_lines_reproducibly():
    e = control.to_control(np.stack([square_outline()] * 16))
    a = control.scribble(e, torch.Generator().manual_seed(0))
    b = control.scribble(e, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == e.shape
    counts = a.sum((1, 2, 3)) / e.sum((1, 2, 3))
    assert counts.max() > 2  # some pictures' lines thickened to 3 or 5 px
    assert counts.min() < 1  # some lost cells
    assert set(a.unique().tolist()) <= {0.0, 1.0}


def test_unpack_mirrors_the_cached_edges():
    from genlab.colour.train_control import unpack

    e = square_outline(lo=10, hi=50) > 0
    packed = np.packbits(e.reshape(1, -1), axis=1)
    out = unpack(packed, np.array([0, 0]), np.array([0, 1]))
    assert out.shape == (2, 1, 128, 128)
    assert torch.equal(out[0, 0], torch.from_numpy(e).float())
    assert torch.equal(out[1, 0], torch.from_numpy(e[:, ::-1].copy()).float())


# ---------------------------------------------------------------- the ControlNet in the colour pipeline
def draw(pipe, **kw):
    gens = [torch.Generator().manual_seed(3 + i) for i in range(2)]
    return pipe(["a red apple"] * 2, generator=gens, num_inference_steps=4, output_type="pt", **kw).images


def test_a_fresh_controlnet_adds_nothing_and_a_trained_one_steers():
    pipe = tiny_colour_pipeline()
    edge = control.to_control(square_outline()[None])
    plain = draw(pipe)
    fresh = control.build_controlnet(pipe.unet)  # zero convolutions (Zhang et al. 2023, eq. 2)
    assert_same_pictures(pixels_of(draw(pipe, controlnet=fresh, image=edge)), pixels_of(plain))
    net = make_tiny_controlnet(pipe)
    steered = draw(pipe, controlnet=net, image=edge)
    assert (steered - plain).abs().mean() > 1e-3
    assert_same_pictures(
        pixels_of(draw(pipe, controlnet=net, image=edge, controlnet_conditioning_scale=0.0)), pixels_of(plain)
    )
    late = draw(pipe, controlnet=net, image=edge, control_guidance_start=0.5)
    assert (late - steered).abs().mean() > 1e-4 and (late - plain).abs().mean() > 1e-4
    with pytest.raises(ValueError, match="edge maps"):
        draw(pipe, controlnet=net, image=edge[0])
    with pytest.raises(ValueError, match="below control_guidance_end"):
        draw(pipe, controlnet=net, image=edge, control_guidance_start=0.6, control_guidance_end=0.6)


def pixels_of(x: torch.Tensor) -> np.ndarray:
    return (x.permute(0, 2, 3, 1).numpy() * 255).round()


# ---------------------------------------------------------------- the tab's run()
@pytest.fixture
def tiny(monkeypatch):
    pipe = tiny_colour_pipeline()
    monkeypatch.setattr("genlab.models.diffusion.MODELS", fixed_models(**{diffusion.COLOUR_MODEL: pipe}))
    net = make_tiny_controlnet(pipe)
    monkeypatch.setattr(engine, "CONTROLNET", SimpleNamespace(get=lambda: (net, "tiny controlnet")))
    return pipe


def test_run_draws_with_and_without_control_from_a_line_drawing(tiny):
    s = tab.Settings(steps=4, batch=2, seed=3)
    r = drain(tab.run(s, {"sketch": str(LINES)}))
    assert len(r.images) == 4 and r.data["with"] == 2
    assert [c.split(" · ")[:2] for c in r.captions] == [
        ["seed 3", "with control"],
        ["seed 4", "with control"],
        ["seed 3", "without control"],
        ["seed 4", "without control"],
    ]
    edges = np.asarray(r.data["edges"])[..., 0]
    assert 0.01 < (edges > 0).mean() < 0.2  # the apple's outline at 128 px
    assert len(r.data["f1"]) == 2 and len(r.data["f1_without"]) == 2
    assert "tiny controlnet" in r.recipes[0]["weights"] and "tiny controlnet" not in r.recipes[2]["weights"]
    assert r.recipes[2]["params"]["strength"] == 0.0 and r.recipes[0]["input_sha256"]
    a = pixels(r.images[:2])
    assert not np.array_equal(a, pixels(r.images[2:]))
    np.testing.assert_allclose(a[0, 60, 60:64, 0], PINNED, atol=3)
    again = drain(tab.run(s.replace(compare=False), {"sketch": {"composite": str(LINES), "background": None}}))
    assert_same_pictures(again.images, r.images[:2])  # same seeds, same pictures; without the comparison


PINNED = [107.0, 122.0, 125.0, 127.0]


def test_edges_of_a_photo(tiny, tmp_path):
    s = tab.Settings(steps=2, batch=1, source="edges", compare=False)
    r = drain(tab.run(s, {"sketch": str(EXAMPLES / "content" / "coffee.jpg")}))
    assert len(r.images) == 1 and 0.01 < (np.asarray(r.data["edges"]) > 0).mean() < 0.35


@pytest.mark.parametrize(
    "source, make, message",
    [
        ("lines", "blank", "almost no lines"),
        ("lines", "photo", "for a photo or a filled drawing, choose edges"),
        ("edges", "blank", "almost no edges"),
        ("lines", "none", "Draw lines on the canvas"),
        ("lines", "text", "not an image genlab accepts"),
    ],
)
def test_bad_pictures_are_refused_with_a_reason(tiny, tmp_path, source, make, message):
    from PIL import Image

    path = {
        "blank": lambda: str(EXAMPLES / "edit" / "blank.png"),
        "photo": lambda: photo_file(tmp_path, "p.png", w=96, h=96),
        "none": lambda: None,
        "text": lambda: (tmp_path / "t.png").write_text("not a picture") and str(tmp_path / "t.png"),
    }[make]()
    if make == "photo":
        Image.new("RGB", (96, 96), (20, 20, 20)).save(path)
    with pytest.raises(ValueError, match=message):
        drain(tab.run(tab.Settings(source=source, steps=2, batch=1), {"sketch": path}))


def test_settings_refuse_an_empty_control_window():
    with pytest.raises(ValueError, match="must be below Control until"):
        tab.Settings(start=0.8, end=0.4)
    with pytest.raises(ValueError, match="strength"):
        tab.Settings(strength=3.0)


# ---------------------------------------------------------------- the shipped ControlNet
def test_shipped_controlnet_follows_the_lines_better_than_the_plain_model():
    s = tab.Settings(prompt="a yellow star", steps=12, batch=2, seed=0)
    r = drain(tab.run(s, {"sketch": str(EXAMPLES / "control" / "star-lines.png")}))
    assert "weights/colour_controlnet" in r.recipes[0]["weights"]
    assert np.mean(r.data["f1"]) > np.mean(r.data["f1_without"]) + 0.1, (r.data["f1"], r.data["f1_without"])
