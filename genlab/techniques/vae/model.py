"""Convolutional variational autoencoder (Kingma & Welling 2014) for 28x28 Fashion-MNIST.

Bernoulli decoder (pixels in [0,1]); the same class with latent=2 gives the 2-D latent map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from genlab.core.devices import cpu_generator
from genlab.core.weights import LazyMap, WeightSpec, load_module, repo_weights


@dataclass(frozen=True)
class VAEConfig:
    latent: int = 16  # latent dimensions (2 for the latent map)
    width: int = 32  # channels of the first conv (the second has 2x)
    hidden: int = 256  # fully connected layer between conv features and the latent


class VAE(nn.Module):
    """encode: [B,1,28,28] in [0,1] -> (mu, logvar) [B,latent]; decode: [B,latent] -> logits [B,1,28,28]."""

    def __init__(self, cfg: VAEConfig = VAEConfig()):
        super().__init__()
        self.cfg = cfg
        w, h = cfg.width, cfg.hidden
        self.enc = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1),
            nn.SiLU(),  # 14x14
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.SiLU(),  # 7x7
            nn.Flatten(),
            nn.Linear(2 * w * 49, h),
            nn.SiLU(),
            nn.Linear(h, 2 * cfg.latent),
        )
        self.dec_fc = nn.Sequential(nn.Linear(cfg.latent, h), nn.SiLU(), nn.Linear(h, 2 * w * 49), nn.SiLU())
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1),
            nn.SiLU(),  # 14x14
            nn.ConvTranspose2d(w, 1, 4, 2, 1),  # 28x28 logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(self.dec_fc(z).view(len(z), 2 * self.cfg.width, 7, 7))

    def loss(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """Negative ELBO per image: E_q[-log p(x|z)] + KL(q(z|x) || N(0,I))  (Kingma & Welling 2014, eq. 10)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + (0.5 * logvar).exp() * eps  # reparameterisation trick
        rec = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
        return rec + kl, {"rec": rec.item(), "kl": kl.item()}


SPECS = {
    "vae": WeightSpec(
        name="VAE (Fashion-MNIST)", env_var="GENLAB_VAE_WEIGHTS", offline=repo_weights("vae.safetensors")
    ),
    "vae2d": WeightSpec(
        name="2-D latent VAE (Fashion-MNIST)", env_var="GENLAB_VAE2D_WEIGHTS", offline=repo_weights("vae2d.safetensors")
    ),
}


def load(kind: str = "vae", path: str | None = None) -> tuple[VAE, str]:
    """(VAE in eval mode on CPU, weights label) for kind "vae" or "vae2d"."""
    if kind not in SPECS:
        raise ValueError(f"kind must be one of {', '.join(SPECS)} (got {kind!r}).")
    return load_module(SPECS[kind], lambda cfg: VAE(VAEConfig(**cfg)), path=path)


MODELS = LazyMap(load)  # "vae" (16-d) or "vae2d"


def prior_latents(seeds: list[int], latent: int, *, temperature: float = 1.0) -> torch.Tensor:
    """z ~ N(0, T^2 I), one per seed: [len(seeds), latent]."""
    return torch.stack([torch.randn(latent, generator=cpu_generator(s)) for s in seeds]) * temperature


@torch.no_grad()
def decode(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Mean image [B,1,28,28] in [0,1] of p(x|z)."""
    return torch.sigmoid(model.decode(z))


OUTLINE_SHARE = 0.3  # strokes covering less of the object's box than this are read as an outline
FILL_LEVEL = 0.8  # brightness given to the inside of a closed outline (Fashion-MNIST objects are light, not white)


def fill_outline(g: np.ndarray) -> np.ndarray:
    """An outline drawing (thin light strokes on black, [H,W] in [0,1]) with its closed shapes filled, as
    Fashion-MNIST objects are solid; anything else unchanged. Small gaps in the strokes are closed first."""
    from scipy import ndimage

    strokes = g > 0.3
    if not strokes.any() or strokes.mean() >= OUTLINE_SHARE:
        return g
    gap = max(1, round(max(g.shape) / 60))  # close gaps of about 1/60 of the drawing
    closed = ndimage.binary_closing(np.pad(strokes, gap), iterations=gap)[gap:-gap, gap:-gap]
    filled = ndimage.binary_fill_holes(closed)
    if filled.mean() < 1.5 * strokes.mean():  # nothing enclosed: an open scribble stays as drawn
        return g
    return np.maximum(g, filled * FILL_LEVEL).astype(np.float32)


def to_fashion(im: Image.Image) -> torch.Tensor:
    """Any RGB picture -> the Fashion-MNIST convention [1,1,28,28]: light object on black, fills the frame.

    Dark-on-light pictures (photos on white, black strokes on a sketchpad) are inverted, judged from the
    border; the object is cropped to its bounding box, an outline drawing's closed shapes are filled
    (fill_outline), and it is padded square and resized to 28x28.
    """
    g = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if border.mean() > 0.5:
        g = 1.0 - g
    g = np.clip(g - np.median(border if border.mean() <= 0.5 else 1.0 - border), 0, 1)
    ys, xs = np.nonzero(g > 0.1)
    if len(ys):
        g = g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    g = fill_outline(g)
    h, w = g.shape
    side = max(h, w)
    sq = np.zeros((side, side), dtype=np.float32)
    sq[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = g
    small = ImageOps.fit(Image.fromarray((sq * 255).astype(np.uint8)), (28, 28), Image.LANCZOS)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)[None, None]
