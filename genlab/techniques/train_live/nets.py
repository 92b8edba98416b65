"""Small networks and their training steps for the Train-live tab: an unconditional DCGAN and an MLP VAE on
Fashion-MNIST [B,1,28,28] in [0,1], small enough to train in the browser on a CPU. One `Trainer` per preset."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from genlab.techniques.train_live import Preset

Z_GAN, Z_VAE = 64, 16


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


class VAE(nn.Module):
    """MLP VAE (Kingma & Welling 2014): 784 -> 400 -> (mu, logvar) [B,16] -> 400 -> 784 logits."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * Z_VAE))
        self.dec = nn.Sequential(nn.Linear(Z_VAE, 400), nn.ReLU(), nn.Linear(400, 784))

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(len(z), 1, 28, 28)


class Trainer:
    """One preset's networks and optimisers; step(x) trains on a batch in [0,1] and returns its losses."""

    def __init__(self, p: Preset, seed: int):
        torch.manual_seed(seed)
        self.p = p
        if p.kind == "gan":
            self.g, self.d = Generator(), Discriminator(p.d_width, p.spectral)
            self.opt_g = torch.optim.Adam(self.g.parameters(), p.lr_g, betas=p.betas)
            self.opt_d = torch.optim.Adam(self.d.parameters(), p.lr_d, betas=p.betas)
        else:
            self.vae = VAE()
            self.opt = torch.optim.Adam(self.vae.parameters(), 1e-3)
        self.gen = torch.Generator().manual_seed(seed + 1)

    def step(self, x: torch.Tensor) -> dict[str, float]:
        return self._gan(x * 2 - 1) if self.p.kind == "gan" else self._vae(x)

    def _gan(self, real):
        z = torch.randn(len(real), Z_GAN, generator=self.gen)
        fake = self.g(z)
        sr, sf = self.d(real), self.d(fake.detach())
        if self.p.loss == "hinge":  # Lim & Ye 2017; Miyato et al. 2018
            loss_d = F.relu(1 - sr).mean() + F.relu(1 + sf).mean()
        else:  # the original minimax discriminator loss (Goodfellow et al. 2014)
            loss_d = F.softplus(-sr).mean() + F.softplus(sf).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        sg = self.d(fake)
        loss_g = -sg.mean() if self.p.loss == "hinge" else F.softplus(-sg).mean()  # non-saturating
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"generator": loss_g.item(), "discriminator": loss_d.item()}

    def _vae(self, x):
        h = self.vae.enc(x)
        mu, logvar = h.chunk(2, dim=1)
        z = mu + torch.randn(mu.shape, generator=self.gen) * (0.5 * logvar).exp()
        rec = F.binary_cross_entropy_with_logits(self.vae.dec(z), x.flatten(1), reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)  # Kingma & Welling 2014, app. B
        loss = rec + self.p.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"reconstruction": rec.item(), "KL": kl.item()}

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Fixed latents -> images [B,1,28,28] in [0,1]."""
        if self.p.kind == "gan":
            self.g.eval()
            out = (self.g(z) + 1) / 2
            self.g.train()
            return out
        return self.vae.decode(z[:, :Z_VAE])

    def state(self) -> dict[str, torch.Tensor]:
        m = self.g if self.p.kind == "gan" else self.vae
        return {k: v.detach().contiguous() for k, v in m.state_dict().items()}
