"""Teach: LoRA and textual inversion on tiny seeded colour pipelines (and a tiny Stable Diffusion), the adapter
file and its checks, and the adapter used in Prompt-to-image."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from support import assert_same_pictures, build_clip_tokenizer_files, fixed_models, photo_file, pixels, tiny_sd

from genlab.core.control import Control, drain
from genlab.models import adapters, diffusion
from genlab.techniques import teach
from genlab.techniques import text_to_image as t2i
from genlab.techniques.teach import engine
from genlab.techniques.teach.sets import SETS, pictures


@pytest.fixture
def tiny(monkeypatch):
    """The tiny colour pipeline (hash encoder) as the colour model, for both Teach and Prompt-to-image."""
    from support import tiny_colour_pipeline

    pipe = tiny_colour_pipeline()
    models = fixed_models(**{diffusion.COLOUR_MODEL: pipe})
    monkeypatch.setattr("genlab.models.diffusion.MODELS", models)
    monkeypatch.setattr("genlab.techniques.text_to_image.pipelines.MODELS", models)
    return pipe


@pytest.fixture
def tiny_minilm(monkeypatch):
    """A tiny colour UNet and VAE with genlab's real MiniLM (textual inversion needs its embedding table)."""
    from support import tiny_colour_pipeline

    from genlab.models.text_encoder import ENCODER

    pipe = tiny_colour_pipeline()
    pipe.text_encoder = ENCODER.get()
    models = fixed_models(**{diffusion.COLOUR_MODEL: pipe})
    monkeypatch.setattr("genlab.models.diffusion.MODELS", models)
    monkeypatch.setattr("genlab.techniques.text_to_image.pipelines.MODELS", models)
    return pipe


def small(**kw) -> teach.Settings:
    return teach.Settings(**{"steps": 10, "every": 5, "rank": 2, "seed": 1, **kw})


def t2i_pictures(adapter=None, scale=1.0, prompt="a sks tiger"):
    s = t2i.Settings(prompt=prompt, steps=4, batch=2, seed=3, lora_scale=scale)
    return drain(t2i.run(s, {"adapter": adapter})).images


def test_built_in_sets_are_held_out_pictures_with_their_sources():
    from genlab.colour.data import HELD_OUT_CONCEPTS

    index = json.loads((pictures("tiger")[0].parent.parent / "sources.json").read_text())
    for name, ps in SETS.items():
        files = pictures(name)
        assert teach.MIN_PICTURES <= len(files) <= teach.MAX_PICTURES, name
        assert [r["file"] for r in index[name]] == [f.name for f in files]
        assert all(r["licence"] for r in index[name])
        assert ps.concept is None or ps.concept in HELD_OUT_CONCEPTS
        assert teach.Settings(pictures=name, prompt=ps.prompt, class_prompt=ps.class_prompt)


def test_lora_run_streams_samples_and_saves_an_adapter_the_shared_unet_does_not_keep(tiny):
    before = {k: v.clone() for k, v in tiny.unet.state_dict().items()}
    items = list(teach.run(small(), {}))
    result = items[-1]
    previews = [u for u in items[:-1] if u.preview is not None]
    assert len(previews) == 3  # step 0, 5, 10
    assert not np.array_equal(pixels([previews[0].preview]), pixels([previews[-1].preview]))
    a = adapters.read(result.data["adapter"], base=diffusion.unet_sha(tiny), unet=tiny.unet)
    assert a.method == "lora" and a.meta["rank"] == "2" and a.meta["steps"] == "10" and a.meta["seed"] == "1"
    assert a.meta["token"] == "sks" and a.meta["prompt"] == SETS["tiger"].prompt
    assert json.loads(a.meta["lora_adapter_metadata"])["target_modules"] == list(adapters.TARGETS)
    modules = {k.split(".lora_")[0] for k in a.state}
    assert modules and all(m.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v") or m.endswith("to_out.0") for m in modules)
    # the shared UNet: no adapter left, every weight as it was, nothing trainable added
    assert not getattr(tiny.unet, "peft_config", {})
    after = tiny.unet.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    # pinned: the first losses (the base model at step 1, LoRA B = 0) and a slice of a trained B
    inst = [r["loss"] for r in result.data["losses"] if r["curve"] == "your pictures"]
    assert len(inst) == 10
    np.testing.assert_allclose(inst[:3], PINNED_LOSSES, rtol=2e-3)
    b = next(v for k, v in sorted(a.state.items()) if k.endswith("lora_B.weight")).flatten()[:4]
    np.testing.assert_allclose(b.numpy(), PINNED_B, atol=5e-5)  # trained B is ~1e-3 after 10 steps
    # prior preservation's target is the base model's own prediction (not the noise, whose loss is ~0.9 here): at
    # step 1 (B = 0) the adapter predicts exactly it, and after 10 small steps it is still that close
    prior = [r["loss"] for r in result.data["losses"] if r["curve"] == "class pictures (prior)"]
    assert len(prior) == 10 and prior[0] == 0.0 and max(prior) < 1e-3, prior


PINNED_LOSSES = [0.86369, 0.81212, 0.98109]
PINNED_B = [0.000106, 0.001101, -0.001785, -0.000933]


def test_the_lora_fits_the_pictures_and_scale_zero_is_the_base_model(tiny):
    s = small(steps=80, every=80, lr=3e-2, rank=4, prior=False, flip=False)
    path = drain(teach.run(s, {})).data["adapter"]
    base = engine.Base(tiny, diffusion.COLOUR_MODEL)
    z = base.latents(engine.to_batch(engine.load_pictures([str(p) for p in pictures("tiger")], 128)))
    z = z.repeat(8, 1, 1, 1)  # 8 draws of t and noise per picture
    cond = engine.repeat(base.cond([s.prompt]), len(z))

    def loss(adapter, scale=1.0) -> float:
        diffusion.use_adapter(tiny, tiny, adapter, scale)
        with torch.no_grad():
            return float(base.losses(z, cond, torch.Generator().manual_seed(0)).mean())

    plain, taught, zero = loss(None), loss(path), loss(path, 0.0)
    assert taught < 0.95 * plain, (plain, taught)  # a random tiny UNet; the shipped model: test_teach_real.py
    assert zero == pytest.approx(plain, rel=1e-4)
    assert loss(None) == pytest.approx(plain, rel=1e-4)  # and no adapter is the base again


def test_prompt_to_image_uses_the_adapter_at_its_scale(tiny):
    path = drain(teach.run(small(steps=20, every=20, lr=1e-2), {})).data["adapter"]
    plain = t2i_pictures()
    assert_same_pictures(t2i_pictures(path, 0.0), plain)
    with_adapter = drain(t2i.run(t2i.Settings(prompt="a sks tiger", steps=4, batch=2, seed=3), {"adapter": path}))
    assert not np.array_equal(pixels(with_adapter.images), pixels(plain))
    sha = adapters.read(path, base=diffusion.unet_sha(tiny), unet=tiny.unet).sha
    assert sha in with_adapter.recipes[0]["weights"] and "LoRA scale 1" in with_adapter.recipes[0]["weights"]
    assert_same_pictures(t2i_pictures(), plain)  # the next request without it draws with the base model


def test_textual_inversion_trains_one_embedding_and_leaves_other_prompts_alone(tiny_minilm):
    enc = tiny_minilm.text_encoder
    table = enc.model.get_input_embeddings().weight.clone()
    unet_before = {k: v.clone() for k, v in tiny_minilm.unet.state_dict().items()}
    s = small(method="textual inversion", lr=5e-2, steps=20, every=10)
    r = drain(teach.run(s, {}))
    a = adapters.read(r.data["adapter"], base=diffusion.unet_sha(tiny_minilm), embed_dim=384)
    assert a.method == "textual inversion" and a.state["embedding"].shape == (384,)
    start = table[enc.word_pieces("cat")].mean(0)  # the class prompt's last word
    assert not torch.allclose(a.state["embedding"], start)
    assert torch.equal(enc.model.get_input_embeddings().weight, table)  # MiniLM unchanged
    assert all(torch.equal(v, tiny_minilm.unet.state_dict()[k]) for k, v in unet_before.items())
    assert enc.model.get_input_embeddings().weight.grad is None
    plain_class, plain_trigger = t2i_pictures(prompt="a cat"), t2i_pictures()
    assert_same_pictures(t2i_pictures(r.data["adapter"], prompt="a cat"), plain_class)
    assert not np.array_equal(pixels(t2i_pictures(r.data["adapter"])), pixels(plain_trigger))


def test_tokens_with_a_known_word_vector_equals_the_word():
    from genlab.models.text_encoder import ENCODER

    enc = ENCODER.get()
    v = enc.model.get_input_embeddings().weight[enc.word_pieces("cat")[0]]
    h, m, p = enc.tokens(["a red cat on a mat", "a cat"])
    h2, m2, p2 = enc.tokens_with(["a red sks on a mat", "a sks"], "sks", v)
    assert torch.equal(m, m2)
    torch.testing.assert_close(h2, h, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p2, p, atol=1e-5, rtol=1e-5)


def test_stop_keeps_the_adapter(tiny):
    ctl = Control()
    last = None
    for item in teach.run(small(steps=50, every=5), {}, ctl):
        if getattr(item, "done", 0) >= 5:
            ctl.stop.set()
        last = item
    assert last.stopped == "stop" and "(stopped)" in last.info
    meta = adapters.read(last.data["adapter"], base=diffusion.unet_sha(tiny), unet=tiny.unet).meta
    assert 5 <= int(meta["steps"]) <= 6


# ---------------------------------------------------------------- inputs refused, with reasons


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"prompt": ""}, "Type a prompt"),
        ({"prompt": "a tiger"}, "must contain the token 'sks'"),
        ({"token": "Two words"}, "one lower-case word"),
        ({"class_prompt": "a sks cat"}, "must not contain the token"),
        ({"lr": float("nan")}, "lr must be a number from 1e-05 to 0.1"),
        ({"every": 300, "steps": 100}, "must not exceed steps"),
        ({"model": diffusion.FASHION_MODEL}, "Teach works on"),
        ({"model": "someone/else"}, "is not offered here"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        teach.Settings.parse(values)


def test_bad_uploads_are_refused(tiny, tmp_path):
    up = small(pictures=teach.UPLOAD)
    one = photo_file(tmp_path, "one.png")
    for files, message in [
        ([], r"Upload 3-20 pictures .* \(got 0\)"),
        ([one], r"\(got 1\)"),
        ([one] * 50, r"at most 20 pictures \(got 50\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            drain(teach.run(up, {"images": files}))
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ValueError, match=r"Picture 3 of 3: notes.png is not an image genlab accepts"):
        drain(teach.run(up, {"images": [one, one, str(text)]}))
    tiny_pic = tmp_path / "tiny.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tiny_pic)
    with pytest.raises(ValueError, match="at least 32 px"):
        drain(teach.run(up, {"images": [one, one, str(tiny_pic)]}))
    ok = drain(teach.run(up.replace(steps=10, every=10), {"images": [one, one, photo_file(tmp_path, "b.png", seed=2)]}))
    assert ok.data["adapter"].endswith(".safetensors")


@pytest.fixture
def good_lora(tiny):
    return drain(teach.run(small(steps=10, every=10), {})).data["adapter"]


def _rewrite(src, dst, *, state=None, meta=None):
    from safetensors.torch import load_file, save_file

    from genlab.core.weights import load_safetensors

    st, md = load_safetensors(src)
    save_file(state(load_file(src)) if state else st, str(dst), metadata=meta(dict(md)) if meta else md)
    return dst


def test_adapter_files_from_elsewhere_are_refused_with_a_reason(tiny, good_lora, tmp_path):
    sha = diffusion.unet_sha(tiny)

    def refused(path, message):
        with pytest.raises(ValueError, match=message):
            adapters.read(path, base=sha, unet=tiny.unet)

    pickle = tmp_path / "pickle.safetensors"
    torch.save({"x": torch.zeros(2)}, pickle)
    refused(pickle, "is a pickle")
    refused(_rewrite(good_lora, tmp_path / "other.safetensors", meta=lambda m: {"format": "x"}), "not a genlab adapter")
    refused(
        _rewrite(good_lora, tmp_path / "base.safetensors", meta=lambda m: {**m, "base": "0123456789ab"}),
        "taught on another model",
    )
    refused(_rewrite(good_lora, tmp_path / "rank.safetensors", meta=lambda m: {**m, "rank": "4"}), "not rank 4")

    def rename(st):
        k = next(k for k in st if ".to_q." in k)
        return {**{x: v for x, v in st.items() if x != k}, k.replace(".to_q.", ".proj_in."): st[k]}

    refused(_rewrite(good_lora, tmp_path / "keys.safetensors", state=rename), "not a LoRA weight of a UNet attention")

    def drop_b(st):
        return {k: v for k, v in st.items() if not k.endswith("lora_B.weight") or "to_q" not in k}

    refused(_rewrite(good_lora, tmp_path / "half.safetensors", state=drop_b), "not both")

    def nan(st):
        k = next(iter(st))
        return {**st, k: torch.full_like(st[k], float("nan"))}

    refused(_rewrite(good_lora, tmp_path / "nan.safetensors", state=nan), "non-finite")

    def wide(st):
        k = next(k for k in st if k.endswith("lora_A.weight"))
        return {**st, k: torch.zeros(st[k].shape[0], st[k].shape[1] + 1)}

    refused(_rewrite(good_lora, tmp_path / "wide.safetensors", state=wide), "in this model, the adapter's is")
    huge = tmp_path / "huge.safetensors"
    with open(huge, "wb") as f:
        f.truncate(adapters.MAX_BYTES + 1)
    refused(huge, "an adapter may be at most")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    refused(cut, "not a valid safetensors file")
    other = tmp_path / "adapter.bin"
    other.write_bytes(b"\x00" * 16)
    refused(other, "not a .safetensors file")
    refused(tmp_path / "gone.safetensors", "is not there any more")


def test_prompt_to_image_refuses_a_bad_adapter_with_its_reason(tiny, tmp_path):
    pickle = tmp_path / "lora.safetensors"
    torch.save({"x": torch.zeros(2)}, pickle)
    with pytest.raises(ValueError, match="is a pickle"):
        t2i_pictures(str(pickle))
    assert_same_pictures(t2i_pictures(), t2i_pictures())  # and the next request still works


# ---------------------------------------------------------------- the same code path on a Stable Diffusion model


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory):
    clip = build_clip_tokenizer_files(tmp_path_factory.mktemp("clip"))
    return tiny_sd(clip, tmp_path_factory.mktemp("tiny-sd"))


def test_lora_on_a_stable_diffusion_pipeline_and_back_in_prompt_to_image(tiny_sd_dir, monkeypatch):
    monkeypatch.setenv("GENLAB_T2I_MODELS", tiny_sd_dir)
    monkeypatch.setattr("genlab.models.diffusion.MODELS", diffusion.LazyMap(diffusion._load))
    monkeypatch.setattr("genlab.techniques.text_to_image.pipelines.MODELS", diffusion.MODELS)
    s = small(model=tiny_sd_dir, steps=10, every=5, lr=1e-2, prior=False)
    r = drain(teach.run(s, {}))
    pipe, _ = diffusion.MODELS.get(tiny_sd_dir)
    a = adapters.read(r.data["adapter"], base=diffusion.unet_sha(pipe), unet=pipe.unet)
    assert a.method == "lora" and a.meta["base_model"] == tiny_sd_dir
    ts = dict(prompt="a sks tiger", model=tiny_sd_dir, steps=3, size=256, batch=1, seed=2)
    plain = drain(t2i.run(t2i.Settings(**ts), {})).images
    taught = drain(t2i.run(t2i.Settings(**ts), {"adapter": r.data["adapter"]})).images
    assert not np.array_equal(pixels(plain), pixels(taught))
    with pytest.raises(ValueError, match="Textual inversion is built for genlab's colour model"):
        drain(teach.run(s.replace(method="textual inversion"), {}))
