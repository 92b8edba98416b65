"""Test support: tiny seeded models (diffusers' fast-test style), small real data, and CLIP's tokenizer files."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.core.weights import LazyMap

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def digits(n: int = 256):
    """scikit-learn's 8x8 digits, enlarged to 28x28 in [0,1]: small real data for fast tests."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images[:n], dtype=torch.float32)[:, None] / 16.0
    return torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear"), torch.tensor(d.target[:n])


def photo(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def photo_file(tmp_path: Path, name: str, **kw) -> str:
    p = tmp_path / name
    photo(**kw).save(p)
    return str(p)


def tiny_vgg():
    """A VGG16 feature stack with small random seeded weights."""
    from genlab.models.vgg import VGGFeatures

    torch.manual_seed(0)
    net = VGGFeatures("vgg16", "torchvision")  # every conv layer (Deep Dream reaches relu5_3)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    return net.eval()


def tiny_sr(upscale: int = 4):
    """A seeded SRVGGNetCompact with 2 body convs of 8 features (the compact super-resolution architecture, tiny)."""
    from genlab.techniques.upscale.networks import SRVGGNetCompact

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_conv=2, num_feat=8, upscale=upscale)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.1)
    return net.eval()


def tiny_upscalers() -> LazyMap:
    """Upscale's MODELS with every model, at every denoise level, answered by a tiny network of its native scale
    (x2 for waifu2x, else x4)."""
    from genlab.techniques.upscale import NATIVE
    from genlab.techniques.upscale.engine import model_key

    nets = {m: tiny_sr(scale) for m, scale in NATIVE.items()}
    return fixed_models(**{model_key(m, d): n for m, n in nets.items() for d in (None, 0, 1, 2, 3)})


def collect(steps) -> tuple[list, object]:
    """(every item a generator yields, the value it returns)."""
    items = []
    while True:
        try:
            items.append(next(steps))
        except StopIteration as end:
            return items, end.value


def tiny_gan():
    from genlab.techniques.gan.model import GANConfig, Generator

    torch.manual_seed(0)
    return Generator(GANConfig(z_dim=8, width=8)).eval()


def tiny_vae(latent: int = 4):
    from genlab.techniques.vae.model import VAE, VAEConfig

    torch.manual_seed(0)
    return VAE(VAEConfig(latent=latent, width=8, hidden=32)).eval()


def fixed_models(**models) -> LazyMap:
    """A LazyMap answering each key with (model, "tiny test model")."""
    return LazyMap(lambda key: (models[key], "tiny test model"))


class HashEncoder(torch.nn.Module):
    """A deterministic stand-in for MiniLM: text -> unit vector [B,384] from a seeded hash."""

    source = "hash"

    def forward(self, texts):
        out = [torch.randn(384, generator=torch.Generator().manual_seed(zlib.crc32(t.encode()))) for t in texts]
        return torch.nn.functional.normalize(torch.stack(out), dim=-1)

    def tokens(self, texts, max_length=24):
        """(hidden [B,L,384], mask [B,L], pooled [B,384]): one seeded vector per word, as MiniLM's shapes."""
        h = torch.zeros(len(texts), max_length, 384)
        m = torch.zeros(len(texts), max_length, dtype=torch.bool)
        for i, t in enumerate(texts):
            words = ["[CLS]", *t.split()][:max_length]
            h[i, : len(words)] = self(words)
            m[i, : len(words)] = True
        pooled = torch.nn.functional.normalize(h.sum(1) / m.sum(1, keepdim=True).clamp(min=1), dim=-1)
        return h, m, pooled


def tiny_colour_pipeline():
    """genlab's colour latent pipeline with a tiny random VAE and UNet (seeded) and the hash encoder."""
    from diffusers import AutoencoderKL, DDIMScheduler

    from genlab.colour import ldm

    torch.manual_seed(0)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=128,
        latents_mean=[0.1, -0.2, 0.0, 0.3],
        latents_std=[1.5, 0.5, 1.0, 2.0],
    ).eval()
    unet = ldm.build_unet((32, 32, 64), layers=1, heads=2)
    scheduler = DDIMScheduler.from_config(ldm.build_scheduler().config)
    pipe = ldm.ColourLDMPipeline(vae=vae, unet=unet.eval(), scheduler=scheduler, text_encoder=HashEncoder())
    pipe.set_progress_bar_config(disable=True)
    pipe.latent_rgb = ldm.fit_latent_rgb(pipe, n=4)
    return pipe


def tiny_fashion_pipeline():
    """genlab's offline pipeline class with a tiny random UNet and the hash encoder."""
    from diffusers import DDIMScheduler

    from genlab.techniques.text_to_image import fashion

    torch.manual_seed(0)
    unet = fashion.build_unet(channels=(8, 16, 16))
    scheduler = DDIMScheduler.from_config(fashion.build_scheduler().config)
    return fashion.FashionText2ImagePipeline(unet=unet, scheduler=scheduler, text_encoder=HashEncoder())


# ---------------------------------------------------------------- CLIP's real tokenizer, offline


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode map (Radford et al. 2019, encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build_clip_tokenizer_files(out: Path) -> Path:
    """vocab.json + merges.txt for transformers' CLIPTokenizer from CLIP's bpe_simple_vocab_16e6.txt.gz
    (shipped by open-clip-torch), exactly as CLIP's simple_tokenizer builds its vocabulary."""
    from genlab.core.packages import require_file

    bpe_gz = require_file(
        "open_clip", "bpe_simple_vocab_16e6.txt.gz", pip_name="open-clip-torch", purpose="CLIP's vocabulary"
    )
    with gzip.open(bpe_gz) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    config = {
        "model_max_length": 77,  # CLIP's context length
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config))
    return out


def tiny_sd(clip_dir: Path, out: Path, *, nan: bool = False) -> str:
    """A tiny randomly initialised Stable Diffusion pipeline with the real CLIP tokenizer, saved to `out`."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 4, 8],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=49408,
            projection_dim=32,
        )
    )
    if nan:
        with torch.no_grad():
            unet.conv_out.bias.fill_(float("nan"))
    sched = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=CLIPTokenizer.from_pretrained(str(clip_dir)),
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    return str(out)


def pixels(images) -> np.ndarray:
    """Pictures -> float array [N,H,W(,C)] in 0-255."""
    return np.stack([np.asarray(im, dtype=np.float32) for im in images])


SAME_PICTURE = 1  # the promise (docs/limits.md): same settings and seed, every pixel value within 1/255


def assert_same_pictures(a, b, levels: float = SAME_PICTURE) -> None:
    """a and b (pictures or 0-255 arrays) are the same picture within `levels`/255 per value: what genlab promises
    across batch sizes, threads and CPUs (kernels differ in the last bits, and rounding to 8 bits may flip one)."""
    a = a if isinstance(a, np.ndarray) else pixels(a)
    b = b if isinstance(b, np.ndarray) else pixels(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    worst = float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max())
    assert worst <= levels, f"pictures differ by {worst:.0f}/255 (promise: {levels:.0f}/255)"


def pinned(values: str) -> np.ndarray:
    """A pinned output slice written as space-separated numbers (0-255)."""
    return np.array(values.split(), dtype=float)


def descend(loss, parameters, *, steps: int, lr: float) -> tuple[float, float]:
    """(loss before, loss after) `steps` Adam steps on loss() over parameters."""
    opt = torch.optim.Adam(parameters, lr)
    before = loss().item()
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    return before, loss().item()


def tiny_controlnet(pipe):
    """A ControlNet copied from the tiny colour pipeline's UNet, its zero convolutions given small seeded weights
    (a fresh ControlNet adds exactly nothing), so control visibly changes the pictures."""
    from genlab.colour import control

    torch.manual_seed(1)
    net = control.build_controlnet(pipe.unet)
    with torch.no_grad():
        for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            torch.nn.init.normal_(conv.weight, std=0.05)
    return net.eval()
