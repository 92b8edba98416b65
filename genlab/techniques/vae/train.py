"""Training task for the VAEs (python -m genlab.train vae|vae2d)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from genlab.techniques.vae import model as vae


class VAETask:
    def __init__(self, args, test, latent: int):
        self.name = "vae" if latent > 2 else "vae2d"
        self.cfg = vae.VAEConfig(latent=latent)
        self.model = vae.VAE(self.cfg)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.test = test
        self.fixed = vae.prior_latents(list(range(100)), latent)

    def parts(self):
        return [self.model, self.opt]

    def step(self, acc, x, y):
        self.model.train()
        loss, parts = acc.unwrap_model(self.model).loss(x)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        self.opt.step()
        return {"neg_elbo": loss.item(), **parts}

    def grid(self):
        return vae.decode(self.model.eval(), self.fixed)

    def export(self, acc):
        return acc.unwrap_model(self.model), self.cfg

    @torch.no_grad()
    def metrics(self, acc):
        m = acc.unwrap_model(self.model).eval()
        x = self.test[0]
        g = torch.Generator().manual_seed(0)
        nelbo = sum(
            m.loss(x[i : i + 1000], generator=g)[0].item() * len(x[i : i + 1000]) for i in range(0, len(x), 1000)
        )
        return {"test_neg_elbo_nats": round(nelbo / len(x), 2)}

    @torch.no_grad()
    def save(self, acc, export: Path, card: dict) -> None:
        """The weights and card; for the 2-D VAE also the test set's latent means (the map's dots)."""
        from safetensors.torch import save_file

        m = acc.unwrap_model(self.model).eval()
        state = {k: v.detach().cpu().contiguous() for k, v in m.state_dict().items()}
        save_file(state, str(export / f"{self.name}.safetensors"), metadata={"config": json.dumps(asdict(self.cfg))})
        (export / f"{self.name}.json").write_text(json.dumps(card, indent=2) + "\n")
        if self.cfg.latent == 2:
            mu = torch.cat([m.encode(self.test[0][i : i + 1000])[0] for i in range(0, len(self.test[0]), 1000)])
            save_file(
                {"mu": mu.contiguous(), "label": self.test[1].contiguous()}, str(export / "vae2d_testmap.safetensors")
            )
