"""Training task for the DCGAN (python -m genlab.train dcgan)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.techniques.gan import model as gan


class DCGANTask:
    name = "dcgan"

    def __init__(self, args, test):
        self.cfg = gan.GANConfig()
        self.g, self.d = gan.Generator(self.cfg), gan.Discriminator(self.cfg)
        # Two time-scale update rule (Heusel et al. 2017) with SNGAN's Adam settings (Miyato et al. 2018).
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=1e-4, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=4e-4, betas=(0.0, 0.9))
        self.fixed = gan.latents(list(range(100)), self.cfg.z_dim)
        self.fixed_y = torch.arange(10).repeat_interleave(10)

    def parts(self):
        return [self.g, self.d, self.opt_g, self.opt_d]

    def step(self, acc, x, y):
        self.g.train(), self.d.train()
        x = x * 2 - 1
        z = torch.randn(len(x), self.cfg.z_dim, device=x.device)
        fake = self.g(z, acc.unwrap_model(self.g).embed(y))
        # Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D pushes real scores above 1 and fake below -1.
        d_loss = F.relu(1 - self.d(x, y)).mean() + F.relu(1 + self.d(fake.detach(), y)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        acc.backward(d_loss)
        self.opt_d.step()
        g_loss = -self.d(fake, y).mean()  # G raises the critic's score of its samples
        self.opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss)
        self.opt_g.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    @torch.no_grad()
    def grid(self):
        g = self.g.eval()
        return gan.generate(g, self.fixed, g.embed(self.fixed_y))

    def export(self, acc):
        return acc.unwrap_model(self.g), self.cfg

    def metrics(self, acc):
        return {}
