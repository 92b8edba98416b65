"""Train live: every preset trains a few steps (finite losses, a grid, coverage), Stop ends within a step, a
seed repeats, the weights load back, and bad settings are refused."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from support import EXAMPLES

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


@pytest.fixture(scope="module")
def trained():
    """A Train-live GAN file and VAE file, 20 steps each."""
    out = {}
    for preset in ("gan-stable", "vae-beta-1"):
        out[preset[:3]] = drain(tl.run(tl.Settings(preset=preset, steps=20, every=20, seed=4))).data["weights"]
    return out


def test_the_download_loads_into_the_gan_tab_for_this_request_only(trained):
    from genlab.models import live
    from genlab.techniques import gan

    s = gan.Settings(seed=3, count=4)
    yours = drain(gan.run(s, {"weights": trained["gan"]}))
    shipped = drain(gan.run(s))
    assert "yours — trained in Train live (gan-stable, 20 steps, seed 4" in yours.info
    assert "yours" not in shipped.info and "yours" in yours.recipes[0]["weights"]
    assert [im.tobytes() for im in yours.images] != [im.tobytes() for im in shipped.images]
    g, _ = live.load(trained["gan"], "gan")  # seed k's picture is the user's generator applied to seed k's z
    z = gan.model.latents([3], live.Z_GAN)
    with torch.no_grad():
        want = ((g(z) + 1) / 2 * 255).round().squeeze().numpy()
    got = np.asarray(yours.images[0].resize((28, 28), Image.NEAREST), dtype=np.float32)
    assert np.abs(got - want).max() <= 1
    walk = drain(
        gan.run(
            gan.Settings(action="interpolate", seed_b=5, class_name="any", class_b="any"), {"weights": trained["gan"]}
        )
    )
    assert "seed 0 → seed 5" in walk.info and len(walk.data["frames"]) == 10
    with pytest.raises(ValueError, match="unconditional: it cannot be asked for Sneaker"):
        drain(gan.run(gan.Settings(class_name="Sneaker"), {"weights": trained["gan"]}))
    with pytest.raises(ValueError, match="holds a Train-live VAE: load it in the VAE tab"):
        drain(gan.run(s, {"weights": trained["vae"]}))


def test_the_download_loads_into_the_vae_tab(trained):
    from genlab.techniques import vae

    yours = drain(vae.run(vae.Settings(seed=2, count=3), {"weights": trained["vae"]}))
    assert "yours — trained in Train live (vae-beta-1" in yours.info and len(yours.images) == 3
    shipped = drain(vae.run(vae.Settings(seed=2, count=3)))
    assert yours.images[0].tobytes() != shipped.images[0].tobytes()
    pic = sorted((EXAMPLES / "fashion").glob("*.png"))[0]
    rec = drain(
        vae.run(vae.Settings(action="reconstruct", source="upload"), {"image": str(pic), "weights": trained["vae"]})
    )
    from genlab.models import live
    from genlab.techniques.vae.model import to_fashion

    mine, _ = live.load(trained["vae"], "vae")  # the error reported is the user's VAE's own
    x = to_fashion(Image.open(pic))
    with torch.no_grad():
        want = torch.nn.functional.mse_loss(torch.sigmoid(mine.decode(mine.encode(x)[0])), x).item()
    assert "yours" in rec.info and rec.data["mse"] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="holds a Train-live GAN: load it in the GAN tab"):
        drain(vae.run(vae.Settings(), {"weights": trained["gan"]}))


def test_other_files_are_refused_as_weights(tmp_path, trained):
    from safetensors.torch import save_file

    from genlab.models import live

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "cut.safetensors").write_bytes(Path(trained["gan"]).read_bytes()[:100])
    for name, why in [
        ("plain.safetensors", "not one from genlab's Train live tab"),
        ("pickle.safetensors", "is a pickle"),
        ("cut.safetensors", "not a valid safetensors file"),
    ]:
        with pytest.raises(ValueError, match=why):
            live.load(tmp_path / name, "gan")


def test_load_into_routes_the_file_to_the_tab_that_fits(trained):
    import gradio as gr

    from genlab.ui.send import _route_weights

    out = _route_weights(trained["vae"], ["gan", "vae"])
    assert out[0] == {"__type__": "update"} and out[2] == trained["vae"] and out[-1].selected == "vae"
    with pytest.raises(gr.Error, match="train first"):
        _route_weights(None, ["gan", "vae"])
