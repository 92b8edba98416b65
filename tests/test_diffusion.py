"""Prompt-to-image: tiny seeded pipelines for the mechanics (diffusers' test style), then the shipped model."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import diffusion as dif
from genlab import text2image as t2i


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return dif.build_clip_tokenizer_files(tmp_path_factory.mktemp("clip"))


def test_real_clip_tokenizer_gives_standard_ids(clip_dir):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(clip_dir))
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]


def tiny_sd(clip_dir, out, *, nan=False):
    """A tiny randomly initialised Stable Diffusion pipeline with the real CLIP tokenizer, saved to `out`."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=[4, 4, 8], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
    )  # fmt: skip
    text = CLIPTextModel(CLIPTextConfig(
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=49408, projection_dim=32,
    ))  # fmt: skip
    if nan:
        with torch.no_grad():
            unet.conv_out.bias.fill_(float("nan"))
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=CLIPTokenizer.from_pretrained(str(clip_dir)),
                                   scheduler=sched, safety_checker=None, feature_extractor=None, requires_safety_checker=False)  # fmt: skip
    pipe.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def tiny_sd_dir(clip_dir, tmp_path_factory):
    return tiny_sd(clip_dir, tmp_path_factory.mktemp("tiny-sd"))


def settings(model, **kw):
    return dif.T2ISettings(**{"prompt": "a photo of a cat", "model": model, "steps": 3, "size": 256, "batch": 2, "guidance": 4.0, **kw})


def arr(images):
    return np.stack([np.asarray(im, dtype=np.float32) for im in images])


def test_hub_code_path_end_to_end_on_a_local_tiny_pipeline(tiny_sd_dir):
    images, traj, label = dif.generate(settings(tiny_sd_dir, trajectory=3))
    assert len(images) == 2 and images[0].size == (256, 256) and images[0].mode == "RGB"
    assert "local folder" in label
    assert traj.steps == [0, 1, 2] and len(traj.xt) == 3 and len(traj.x0) == 3  # DDIM gives x0_hat
    assert traj.xt[0][0].size == (64, 64)  # latent preview, no VAE decode


def test_seed_reproducibility(tiny_sd_dir):
    a, _, _ = dif.generate(settings(tiny_sd_dir))
    b, _, _ = dif.generate(settings(tiny_sd_dir))
    c, _, _ = dif.generate(settings(tiny_sd_dir, seed=1, batch=1))
    assert np.array_equal(arr(a), arr(b))
    assert np.abs(arr(a)[1] - arr(c)[0]).max() <= 2  # image i of a batch is image 0 of seed + i
    assert np.abs(arr(a)[0] - arr(a)[1]).max() > 2


def test_schedulers_isolated_under_concurrent_calls(tiny_sd_dir):
    s1 = settings(tiny_sd_dir, scheduler="DDIM", steps=4)
    s2 = settings(tiny_sd_dir, scheduler="DPM-Solver++", steps=6, seed=5)
    alone1, alone2 = dif.generate(s1)[0], dif.generate(s2)[0]
    out = {}
    barrier = threading.Barrier(2)

    def go(key, s):
        barrier.wait()
        out[key] = dif.generate(s)[0]

    threads = [threading.Thread(target=go, args=("a", s1)), threading.Thread(target=go, args=("b", s2))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # Shared scheduler state would change step counts and timesteps: whole images would differ. Two threads
    # sharing 2 cores may split BLAS work differently, which moves a few pixels, not the image.
    assert np.abs(arr(out["a"]) - arr(alone1)).mean() < 0.5
    assert np.abs(arr(out["b"]) - arr(alone2)).mean() < 0.5
    assert np.abs(arr(alone1) - arr(alone2)).mean() > 5  # the two requests really differ


def test_nan_output_is_an_error(clip_dir, tmp_path):
    bad = tiny_sd(clip_dir, tmp_path / "nan-sd", nan=True)
    with pytest.raises(ValueError, match="NaN"):
        dif.generate(settings(bad))


def test_stop_interrupts_the_pipeline(tiny_sd_dir):
    seen = []
    images, traj, _ = dif.generate(settings(tiny_sd_dir, steps=10), should_stop=lambda: len(seen) >= 2, on_step=lambda i, n: seen.append(i))
    assert len(seen) == 2 and len(images) == 2


def test_settings_are_validated():
    for bad in ({"prompt": ""}, {"prompt": "x" * 100_000}, {"steps": 10**6}, {"guidance": float("nan")}, {"seed": -1},
                {"seed": 2**64}, {"size": 10**5}, {"scheduler": "magic"}, {"batch": 0}):  # fmt: skip
        with pytest.raises(ValueError):
            dif.T2ISettings(**{"prompt": "a cat", **bad}).validate()


class HashEncoder(torch.nn.Module):
    """A deterministic stand-in for MiniLM: text -> unit vector [B,384] from a seeded hash."""

    def forward(self, texts):
        import zlib

        out = [torch.randn(t2i.EMBED_DIM, generator=torch.Generator().manual_seed(zlib.crc32(t.encode()))) for t in texts]
        return torch.nn.functional.normalize(torch.stack(out), dim=-1)


def test_offline_pipeline_save_load_round_trip_and_training_step(tmp_path):
    from diffusers import DDIMScheduler

    torch.manual_seed(0)
    unet = t2i.build_unet(channels=(8, 16, 16))
    pipe = t2i.FashionText2ImagePipeline(unet=unet, scheduler=DDIMScheduler.from_config(t2i.build_scheduler().config), text_encoder=HashEncoder())
    gen = lambda: [torch.Generator().manual_seed(i) for i in range(2)]  # noqa: E731
    a = pipe(["a shoe", "a bag"], num_inference_steps=3, generator=gen(), output_type="pt").images
    pipe.text_encoder = None
    pipe.register_to_config(text_encoder=(None, None))
    pipe.save_pretrained(tmp_path / "p")
    back = t2i.FashionText2ImagePipeline.from_pretrained(tmp_path / "p", text_encoder=HashEncoder())
    b = back(["a shoe", "a bag"], num_inference_steps=3, generator=gen(), output_type="pt").images
    assert a.shape == (2, 1, 28, 28) and torch.equal(a, b)
    # one training step on the epsilon objective lowers that batch's loss
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    emb = HashEncoder()(["a shoe"] * 8)
    noise, t = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), torch.full((8,), 500)
    xt = t2i.build_scheduler().add_noise(x, noise, t)
    opt = torch.optim.Adam(unet.parameters(), 1e-3)
    loss = lambda: torch.nn.functional.mse_loss(unet(xt, t, emb[:, None], class_labels=emb).sample, noise)  # noqa: E731
    before = loss().item()
    for _ in range(3):
        opt.zero_grad()
        l_ = loss()
        l_.backward()
        opt.step()
    assert loss().item() < before


def test_shipped_offline_model_runs():
    images, traj, label = dif.generate(dif.T2ISettings(prompt="a pair of sneakers", steps=4, batch=2))
    assert len(images) == 2 and images[0].size == (28, 28)
    a = arr(images)
    assert np.isfinite(a).all() and a.max() > 0
    assert "weights/text2image" in label and "caption prior" in label and len(traj.xt) >= 2
    assert traj.read_as and all(0 < w <= 1 for _, w in traj.read_as)


def test_shipped_caption_prior_reads_unseen_words_as_their_class():
    from genlab.captions import train_captions

    pipe, _ = dif.get_pipeline(dif.OFFLINE_MODEL)
    prior = pipe.prior
    assert prior is not None and len(prior.texts) == len(train_captions()) and 0 < prior.temperature < 1
    label = dict(train_captions())
    # words that are in no training caption: the prior's heaviest caption is of the right class for most
    unseen = [("a midi dress", 3), ("a peacoat", 4), ("a pair of stilettos with straps", 5), ("a leather briefcase", 8),
              ("a pair of plimsolls", 7), ("a chunky roll-neck", 2), ("a pair of capri pants", 1), ("a wellington boot", 9)]  # fmt: skip
    right = []
    for text, k in unseen:
        assert not any(text in t for t in prior.texts)
        (best, w), *_ = prior.matches(pipe.text_encoder([text])[0])
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
    tau, score = t2i.fit_temperature(emb, labels, sources)
    assert tau in t2i.TEMPERATURES and set(score) == set(t2i.TEMPERATURES)
    prior = t2i.CaptionPrior(emb, labels, texts, 0.01)
    # near a caption -> onto that caption; the weights sum to 1
    q = torch.nn.functional.normalize(emb[2] + 0.3 * emb[4], dim=0)[None]
    out = prior.project(q)
    assert torch.allclose(out.norm(dim=1), torch.ones(1)) and torch.nn.functional.cosine_similarity(out, emb[2:3]).item() > 0.999
    assert prior.matches(q[0], k=2)[0][0] == "a bag" and abs(prior.weights(q).sum().item() - 1) < 1e-5
    prior.save(tmp_path / "p.safetensors")
    back = t2i.CaptionPrior.load(tmp_path / "p.safetensors")
    assert back.texts == texts and back.temperature == 0.01 and torch.equal(back.labels, labels)
    assert torch.allclose(back.emb, emb, atol=1e-3)  # stored as float16
    with pytest.raises(ValueError, match="caption prior needs"):
        t2i.CaptionPrior(emb[:, :10], labels, texts, 0.01)
    # the pipeline projects every non-empty prompt through it; the empty one stays the unconditional zero
    pipe = t2i.FashionText2ImagePipeline(unet=t2i.build_unet(channels=(8, 16, 16)), scheduler=t2i.build_scheduler(), text_encoder=HashEncoder())
    raw = pipe.encode_prompt(["a tote-ish thing", ""])
    pipe.prior = prior
    snapped = pipe.encode_prompt(["a tote-ish thing", ""])
    assert torch.allclose(snapped[0], prior.project(raw[:1])[0]) and not torch.allclose(snapped[0], raw[0])
    assert torch.equal(snapped[1], torch.zeros(t2i.EMBED_DIM))


@pytest.mark.parametrize("scheduler", dif.SCHEDULERS)
def test_every_scheduler_draws_on_a_black_background(scheduler):
    """Fashion-MNIST pictures are a light object on black: each sampler must give that, not a grey field
    (DDIM with the DDPM training config's x0 clipping once did)."""
    images, _, _ = dif.generate(dif.T2ISettings(prompt="a leather handbag", steps=25 if scheduler != "DDPM (ancestral)" else 200,
                                                scheduler=scheduler, batch=4, seed=0))  # fmt: skip
    a = arr(images)  # [4,28,28] in 0-255
    corners = np.concatenate([a[:, :3, :3].ravel(), a[:, :3, -3:].ravel(), a[:, -3:, :3].ravel(), a[:, -3:, -3:].ravel()])
    assert np.median(corners) < 25, (scheduler, float(np.median(corners)))  # the broken DDIM gave ~127
    assert a.max() > 128, scheduler


def test_training_captions_cover_every_class_and_leave_the_held_out_sentences_out():
    from genlab import captions

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

    from genlab.captions import train_captions

    monkeypatch.setattr(t2i, "ENCODER", SimpleNamespace(get=HashEncoder))
    args = lambda mix: SimpleNamespace(seed=0, lr=0.0, init=None, caption_mix=mix)  # noqa: E731
    caps = train_captions()
    emb = HashEncoder()([c for c, _ in caps])
    labels = torch.tensor([k for _, k in caps])
    y = torch.tensor([0, 3, 7, 9] * 16)
    plain = t2i.Text2ImageTask(args(0.0), None).condition(y)
    rows = (plain @ emb.T).argmax(1)  # each is one caption of its class, exactly
    assert torch.allclose((plain @ emb.T).max(1).values, torch.ones(len(y)), atol=1e-5) and torch.equal(labels[rows], y)
    mixed = t2i.Text2ImageTask(args(1.0), None).condition(y)
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
        t2i.Text2ImageTask(args(1.5), None)


def test_training_exports_a_pipeline_with_its_caption_prior(tmp_path):
    """python -m genlab.train text2image on 64 images: the exported folder loads, prior included, and samples."""
    import json

    from genlab import train

    card = train.main(["text2image", "--limit", "64", "--epochs", "1", "--batch", "32", "--caption-mix", "0.5",
                       "--out", str(tmp_path / "run"), "--export", str(tmp_path / "exp")])  # fmt: skip
    assert (tmp_path / "exp/text2image/caption_prior.safetensors").is_file()
    saved = json.loads((tmp_path / "exp/text2image.json").read_text())
    assert saved["caption_prior"]["temperature"] in t2i.TEMPERATURES and card["steps"] == 2
    pipe = t2i.load_pipeline(str(tmp_path / "exp/text2image"))
    assert pipe.prior is not None and len(pipe.prior.texts) == saved["caption_prior"]["captions"]
    out = pipe(["a warm coat"], num_inference_steps=2, generator=[torch.Generator().manual_seed(0)], output_type="pt").images
    assert out.shape == (1, 1, 28, 28) and torch.isfinite(out).all()
