"""Deep Dream: a tiny random VGG for the mechanics, the real ImageNet backbone for the effect."""

import numpy as np
import pytest
from support import EXAMPLES, collect, fixed_models, photo, photo_file, pinned, pixels, tiny_vgg

from genlab.core.control import Control, drain
from genlab.core.images import to_tensor
from genlab.models import vgg
from genlab.techniques import deep_dream as dd
from genlab.techniques.deep_dream.engine import dream, gallery_channels, mean_activation, octave_sizes, smooth

SMALL = dict(size=96, octaves=2, iterations=4, step_size=0.05, jitter=8)


def run_dream(net, start, s, ctl=None, **kw):
    """(updates, (final picture, history)) of a dream."""
    return collect(dream(net, start, s, ctl or Control(), **kw))


@pytest.fixture
def tiny(monkeypatch):
    net = tiny_vgg()
    monkeypatch.setattr("genlab.techniques.deep_dream.engine.MODELS", fixed_models(default=net))
    return net


def test_octaves_smallest_first_and_sizes_kept(tiny):
    s = dd.Settings(**SMALL, layer="relu3_1")
    assert octave_sizes(s, 96) == [69, 96] and octave_sizes(s.replace(octaves=8), 96)[0] == 32
    updates, (final, history) = run_dream(tiny, photo(96, 64), s)
    assert final.size == (96, 64) and final.mode == "RGB"
    assert [u.done for u in updates] == list(range(1, 9)) and updates[-1].total == 8
    assert [h["octave"] for h in history] == [1] * 4 + [2] * 4
    assert updates[3].preview.size == (69, 46) and updates[-1].preview.size == (96, 64)  # each octave's end


def test_the_layer_activation_rises(tiny):
    s = dd.Settings(**SMALL, layer="relu3_1")
    start = photo(96, 64)
    _, (final, history) = run_dream(tiny, start, s)
    before = mean_activation(tiny, to_tensor(start), "relu3_1", -1)
    after = mean_activation(tiny, to_tensor(final), "relu3_1", -1)
    assert after > 1.3 * before, (before, after)  # a random VGG rises less than ImageNet's (below)
    assert history[-1]["objective"] > history[4]["objective"]  # within the last octave too


def test_one_channel_is_what_rises(tiny):
    start = photo(96, 64)
    active = tiny(to_tensor(start), {"relu3_1"})["relu3_1"].mean((0, 2, 3)).argsort(descending=True)[:2].tolist()
    _, (final, _) = run_dream(tiny, start, dd.Settings(**SMALL, layer="relu3_1", channel=active[0]))
    gain = [
        mean_activation(tiny, to_tensor(final), "relu3_1", c) / mean_activation(tiny, to_tensor(start), "relu3_1", c)
        for c in active
    ]
    assert gain[0] > gain[1] and gain[0] > 1.3, gain


def test_run_pinned_slice_and_seed_repeatable(tiny, tmp_path):
    inputs = {"image": photo_file(tmp_path, "p.png", w=96, h=64)}
    s = dd.Settings(**SMALL, layer="relu3_1", seed=4)
    a, b = drain(dd.run(s, inputs)), drain(dd.run(s, inputs))
    assert np.array_equal(pixels(a.images), pixels(b.images))
    c = drain(dd.run(s.replace(seed=5), inputs))  # the seed moves the jitter
    assert not np.array_equal(pixels(a.images), pixels(c.images))
    got = pixels(a.images)[0, 10:50:8, 20:80:12, 1].ravel()
    assert np.abs(got - DREAM_SLICE).max() <= 1, got.astype(int).tolist()
    assert "relu3_1" in a.info and "→" in a.info and a.recipes[0]["params"]["layer"] == "relu3_1"


DREAM_SLICE = pinned("1 68 189 3 88 39 255 98 101 0 0 0 87 0 30 158 209 102 218 0 0 0 247 210 255")


def test_noise_start_needs_no_picture(tiny):
    r = drain(dd.run(dd.Settings(**SMALL, start="noise", layer="relu3_1"), {}))
    assert r.images[0].size == (96, 96)


def test_stop_ends_within_one_step_and_keeps_the_picture(tiny):
    ctl = Control()
    gen = dream(tiny, photo(96, 64), dd.Settings(**{**SMALL, "iterations": 50}), ctl)
    for _ in range(3):
        next(gen)
    ctl.stop.set()
    with pytest.raises(StopIteration) as end:
        next(gen)
    final, history = end.value.value
    assert len(history) == 3 and final.size == (96, 64)  # stopped in the first octave, shown at full size


def test_channels_gallery(tiny):
    s = dd.Settings(action="channels", layer="relu3_1", octaves=1, iterations=2, size=64)
    assert gallery_channels(s) == [0, 32, 64, 96, 128, 160, 192, 224]
    assert gallery_channels(s.replace(channel=250)) == [250, 251, 252, 253, 254, 255, 0, 1]
    r = drain(dd.run(s, {}))
    assert len(r.images) == dd.GALLERY_CHANNELS and r.images[0].size == (64, 64)
    assert r.captions[1] == "relu3_1 · channel 32" and r.recipes[1]["params"]["channel"] == 32
    assert len({pixels([im]).tobytes() for im in r.images}) == dd.GALLERY_CHANNELS  # each channel draws its own


def test_smoothing_keeps_shape_and_mean():
    g = to_tensor(photo(40, 30)) - 0.5
    out = smooth(g, 1.5)
    assert out.shape == g.shape and abs(float(out.mean() - g.mean())) < 1e-2
    assert float(out.diff(dim=-1).abs().mean()) < float(g.diff(dim=-1).abs().mean())
    assert smooth(g, 0) is g


@pytest.mark.parametrize(
    "values, message",
    [
        ({"layer": "relu3_1", "channel": 300}, "relu3_1 has 256 channels"),
        ({"layer": "relu4_9"}, "layer must be one of"),
        ({"octaves": 0}, "octaves must be 1-8"),
        ({"octave_scale": float("nan")}, "octave_scale must be a number from 1.1 to 2"),
        ({"step_size": 1}, "step_size must be a number from 0.001 to 0.1"),
        ({"start": "video"}, "start must be one of upload, noise"),
    ],
)
def test_bad_settings_refused(values, message):
    with pytest.raises(ValueError, match=message):
        dd.Settings.parse(values)


def test_bad_inputs_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match="Give a picture to dream on"):
        drain(dd.run(dd.Settings(**SMALL), {}))
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(ValueError, match=r"PNG|image"):
        drain(dd.run(dd.Settings(**SMALL), {"image": str(bad)}))
    with pytest.raises(ValueError, match="pixel-steps"):
        drain(
            dd.run(
                dd.Settings(size=1024, octaves=8, iterations=200, octave_scale=1.1),
                {"image": str(EXAMPLES / "content/chelsea.jpg")},
            )
        )


def test_real_backbone_dreams(monkeypatch):
    """The shipped ImageNet VGG16: a small dream raises relu4_2 several-fold and visibly changes the photo."""
    monkeypatch.setattr("genlab.techniques.deep_dream.engine.MODELS", vgg.MODELS)
    s = dd.Settings(size=160)  # the default octaves, iterations and step
    r = drain(dd.run(s, {"image": str(EXAMPLES / "content/chelsea.jpg")}))
    data = r.data
    assert data["after"] > 3 * data["before"], (data["before"], data["after"])
    assert r.images[0].size == (160, 106)
    from PIL import Image

    start = np.asarray(Image.open(EXAMPLES / "content/chelsea.jpg").convert("RGB").resize((160, 106)), dtype=float)
    assert np.abs(pixels(r.images)[0] - start).mean() > 10  # visibly different (0-255 scale)
