"""The small networks Train live trains (an unconditional DCGAN and an MLP VAE on Fashion-MNIST 28x28), and the
safetensors file that carries them from Train live to the GAN and VAE tabs for one visit.

Shared here because two kinds of tab use them: Train live builds and trains them; the GAN and VAE tabs sample
from a file the user trained (never from `weights/`).
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

Z_GAN, Z_VAE = 64, 16
KINDS = {"gan": "GAN", "vae": "VAE"}  # the file's "kind" -> the tab that samples from it


class Generator(nn.Module):
    """z [B,64] -> [B,1,28,28] in [-1,1] (Radford et al. 2016: transposed convolutions, BN, ReLU, tanh)."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(Z_GAN, 2 * width * 7 * 7), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),  # 14 -> 28
        )
        self.width = width

    def forward(self, z):
        return self.net(self.fc(z).view(len(z), 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    """[B,1,28,28] in [-1,1] -> a score [B]; spectral norm (Miyato et al. 2018) when asked."""

    def __init__(self, width: int = 64, spectral: bool = False):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        self.net = nn.Sequential(
            sn(nn.Conv2d(1, width, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 28 -> 14
            sn(nn.Conv2d(width, 2 * width, 4, 2, 1)),
            nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Flatten(),
            sn(nn.Linear(2 * width * 7 * 7, 1)),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


class _Latent:
    latent = Z_VAE


class VAE(nn.Module):
    """MLP VAE (Kingma & Welling 2014): 784 -> 400 -> (mu, logvar) [B,16] -> 400 -> 784 logits.

    encode/decode have the VAE tab's interface: encode [B,1,28,28] in [0,1] -> (mu, logvar) [B,16];
    decode [B,16] -> logits [B,1,28,28]; cfg.latent = 16."""

    cfg = _Latent()

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * Z_VAE))
        self.dec = nn.Sequential(nn.Linear(Z_VAE, 400), nn.ReLU(), nn.Linear(400, 784))

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        return self.dec(z).view(len(z), 1, 28, 28)


def save(path: Path, kind: str, module: nn.Module, meta: dict[str, str]) -> None:
    """The Train-live download: the generator (kind "gan") or the VAE (kind "vae"), with its story as metadata."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"kind": kind, "format": "genlab-train-live", **meta})


def kind_of(path) -> str:
    """ "gan" or "vae": which network a Train-live file holds (ValueError for any other file)."""
    from safetensors import safe_open

    from genlab.core.weights import check_safetensors

    check_safetensors(Path(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
    except Exception as e:  # a header that passed the layout check but not the parser (e.g. an unknown dtype)
        raise ValueError(f"{Path(path).name} is not a readable safetensors file ({type(e).__name__}).") from None
    if meta.get("format") != "genlab-train-live" or meta.get("kind") not in KINDS:
        raise ValueError(
            f"{Path(path).name} is a safetensors file, but not one from genlab's Train live tab (its metadata does "
            "not say so): only those networks fit the GAN and VAE tabs' samplers."
        )
    return meta["kind"]


def load(path, kind: str) -> tuple[nn.Module, str]:
    """(the network in eval mode, a label naming it) from a Train-live file; ValueError when the file is anything
    else, or holds the other kind of network."""
    from genlab.core.weights import file_sha256, load_safetensors, load_state

    path = Path(path)
    held = kind_of(path)
    if held != kind:
        raise ValueError(
            f"{path.name} holds a Train-live {KINDS[held]}: load it in the {KINDS[held]} tab, "
            f"not the {KINDS[kind]} tab."
        )
    state, meta = load_safetensors(path)
    model = Generator() if kind == "gan" else VAE()
    load_state(model, state, name=f"the Train-live {KINDS[kind]}")
    sha = file_sha256(path)
    label = (
        f"yours — trained in Train live ({meta.get('preset', '?')}, {meta.get('steps', '?')} steps, seed "
        f"{meta.get('seed', '?')}; sha256 {sha}…; this visit only)"
    )
    return model.eval(), label
