"""Class-conditional DCGAN (Radford et al. 2016) for 28x28 Fashion-MNIST.

The discriminator is conditioned by projection (Miyato & Koyama 2018), spectrally normalised and trained
with the hinge loss (Miyato et al. 2018) for stable training on a CPU budget; the generator is the DCGAN
stack of transposed convolutions with batch norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from genlab.core.devices import cpu_generator
from genlab.core.weights import LazyMap, WeightSpec, load_module, repo_weights


@dataclass(frozen=True)
class GANConfig:
    z_dim: int = 64  # latent size
    classes: int = 10  # number of conditioning classes
    width: int = 32  # base channel count (generator's last block; the first has 4x)


class Generator(nn.Module):
    """(z [B,z_dim], class embedding [B,z_dim]) -> images [B,1,28,28] in [-1,1]."""

    def __init__(self, cfg: GANConfig = GANConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.embed = nn.Embedding(cfg.classes, cfg.z_dim)
        self.fc = nn.Sequential(nn.Linear(2 * cfg.z_dim, 4 * w * 7 * 7), nn.BatchNorm1d(4 * w * 7 * 7), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(),  # 28x28
            nn.Conv2d(w, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y_emb: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, y_emb], 1)).view(len(z), 4 * self.cfg.width, 7, 7)
        return self.net(h)


class Discriminator(nn.Module):
    """(images [B,1,28,28] in [-1,1], labels [B]) -> realness logits [B]."""

    def __init__(self, cfg: GANConfig = GANConfig()):
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(1, w, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 14x14
            spectral_norm(nn.Conv2d(w, 2 * w, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 7x7
            spectral_norm(nn.Conv2d(2 * w, 4 * w, 3, 2, 1)),
            nn.LeakyReLU(0.2),  # 4x4
            nn.Flatten(),
        )
        self.out = spectral_norm(nn.Linear(4 * w * 16, 1))
        self.embed = spectral_norm(nn.Embedding(cfg.classes, 4 * w * 16))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        return self.out(h).squeeze(1) + (self.embed(y) * h).sum(1)  # projection term <e_y, h>


def latents(seeds: list[int], z_dim: int, *, truncation: float | None = None) -> torch.Tensor:
    """One z ~ N(0, I) per seed [len(seeds), z_dim]; with truncation t, entries with |z|>t are resampled
    (the truncation trick, Brock et al. 2019)."""
    out = []
    for s in seeds:
        g = cpu_generator(s)
        z = torch.randn(z_dim, generator=g)
        if truncation is not None:
            for _ in range(100):
                bad = z.abs() > truncation
                if not bad.any():
                    break
                z[bad] = torch.randn(int(bad.sum()), generator=g)
            z = z.clamp(-truncation, truncation)
        out.append(z)
    return torch.stack(out)


def seed_labels(seeds: list[int], classes: int) -> torch.Tensor:
    """A uniformly drawn class per seed ("any" class), independent of that seed's z."""
    return torch.tensor([int(torch.randint(classes, (1,), generator=cpu_generator(s + 7919))) for s in seeds])


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents). a,b [D], t [T] -> [T,D]."""
    t = t[:, None]
    cos = (a / a.norm() * b / b.norm()).sum().clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t[:, None]
    return (1 - t) * a + t * b


SPEC = WeightSpec(
    name="DCGAN (Fashion-MNIST)",
    env_var="GENLAB_GAN_WEIGHTS",
    legacy_env_var="GENLAB_DCGAN_WEIGHTS",
    offline=repo_weights("dcgan.safetensors"),
)


def load(path: str | None = None) -> tuple[Generator, str]:
    """(generator in eval mode on CPU, weights label). The file holds the generator only."""
    return load_module(SPEC, lambda cfg: Generator(GANConfig(**cfg)), path=path)


MODELS = LazyMap(lambda key: load(None if key == "default" else key))  # "default" or a weights file


@torch.no_grad()
def generate(g: Generator, z: torch.Tensor, y_emb: torch.Tensor) -> torch.Tensor:
    """Images [B,1,28,28] in [0,1]."""
    return (g(z, y_emb) + 1) / 2
