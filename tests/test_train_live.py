"""Train live: every preset trains a few steps (finite losses, a grid, coverage), Stop ends within a step, a
seed repeats, the weights load back, and bad settings are refused."""

import math

import pytest
import torch
from safetensors.torch import load_file

from genlab.core.control import Control, drain
from genlab.techniques import train_live as tl
from genlab.techniques.train_live import nets


@pytest.mark.parametrize("preset", list(tl.PRESETS))
def test_each_preset_trains_and_streams(preset):
    updates, result = [], None
    for item in tl.run(tl.Settings(preset=preset, steps=20, every=10, seed=1)):
        (updates if not hasattr(item, "recipes") else [None]).append(item)
        result = item
    grids = [u for u in updates if u is not None and u.preview is not None]
    assert len(grids) == 3  # step 1, 10, 20
    assert result.images[0].size == (720, 720)
    assert all(math.isfinite(row["loss"]) for row in result.data["losses"])
    curves = {row["curve"] for row in result.data["losses"]}
    assert curves == ({"generator", "discriminator"} if preset.startswith("gan") else {"reconstruction", "KL"})
    assert [c["step"] for c in result.data["coverage"]] == [1, 10, 20]
    assert 0 <= result.data["coverage"][-1]["classes"] <= 10 and "What to watch" in result.info
    state = load_file(result.data["weights"])
    model = nets.Generator() if preset.startswith("gan") else nets.VAE()
    model.load_state_dict(state)  # the download is a complete state dict


def test_the_pictures_change_as_it_learns_and_a_seed_repeats():
    s = tl.Settings(preset="vae-beta-1", steps=60, every=30, seed=2)
    frames = [u.preview for u in tl.run(s) if getattr(u, "preview", None) is not None]
    assert frames[0].tobytes() != frames[-1].tobytes()
    a, b = drain(tl.run(s)), drain(tl.run(s))
    assert a.images[0].tobytes() == b.images[0].tobytes() and a.data["losses"] == b.data["losses"]


def test_stop_ends_within_one_step_and_keeps_the_grid():
    ctl, seen = Control(), []
    for item in tl.run(tl.Settings(preset="gan-stable", steps=500, every=5), ctl=ctl):
        seen.append(item)
        if getattr(item, "preview", None) is not None and item.done >= 5:
            ctl.stop.set()
    r = seen[-1]
    assert r.stopped == "stop" and r.images and "5/500 steps" in r.info


def test_hinge_loss_and_spectral_norm_in_the_stable_preset():
    tr = nets.Trainer(tl.PRESETS["gan-stable"], 0)
    assert any("parametrizations" in n for n, _ in tr.d.named_modules())
    assert tl.PRESETS["gan-stable"].lr_d > tl.PRESETS["gan-stable"].lr_g  # TTUR
    x = torch.rand(8, 1, 28, 28)
    losses = tr.step(x)
    assert 0 <= losses["discriminator"] <= 4  # hinge: bounded near its start


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(preset="gan-magic"), "preset must be one of gan-collapse"),
        (dict(steps=5), "steps must be 10-2000"),
        (dict(steps=10**6), "steps must be 10-2000"),
        (dict(steps=20, every=50), "must not exceed steps"),
    ],
)
def test_bad_train_live_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        tl.Settings.parse(kw)
