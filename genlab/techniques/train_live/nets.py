"""The training steps of the Train-live tab: one `Trainer` per preset, on Fashion-MNIST [B,1,28,28] in [0,1].
The networks (small enough to train in the browser on a CPU) are genlab.models.live's."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from genlab.models.live import VAE, Z_GAN, Discriminator, Generator
from genlab.techniques.train_live import Preset


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
        mu, logvar = self.vae.encode(x)
        z = mu + torch.randn(mu.shape, generator=self.gen) * (0.5 * logvar).exp()
        rec = F.binary_cross_entropy_with_logits(self.vae.decode(z), x, reduction="sum") / len(x)
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
        return torch.sigmoid(self.vae.decode(z[:, : self.vae.cfg.latent]))

    def network(self) -> nn.Module:
        """What the download holds: the generator, or the whole VAE."""
        return self.g if self.p.kind == "gan" else self.vae
