"""Train a small diffusers AutoencoderKL (Stable Diffusion's x8 downsampling, 4 latent channels) on the colour dataset.

128 px images -> 16x16x4 latents. Trained on random crops (default 64x64; the model is fully convolutional)
of the train split with L1 (+ optional MSE) reconstruction and Stable Diffusion's KL weight (1e-6 on the
per-sample sums). Resumable: a checkpoint every --ckpt-minutes in the run dir (`--resume` continues it);
`--init DIR` starts from exported weights (`--decoder-only` with it: the encoder stays fixed, so the latents a
UNet was trained on keep their meaning; give it its own --run-dir and --out). Every --export-minutes it evaluates PSNR/SSIM on held-out
128 px test images, writes a reconstruction grid, computes the latent scaling factor (1/std of latents, as
SD's `scaling_factor`) and exports `save_pretrained(..., safe_serialization=True, max_shard_size="9MB")`
plus a JSON card next to it.

    python -m genlab.colour.train_vae --hours 24            # start (or --resume) a run
    python -m genlab.colour.train_vae --bench               # time candidate architectures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab.colour import data as colour_data
from genlab.colour.runs import ResumableRun, add_run_args

DEFAULT_DATA = "~/.cache/genlab/colour128"
DEFAULT_RUN = "~/.cache/genlab/runs/colour_vae"
DEFAULT_OUT = "~/.cache/genlab/runs/colour_vae/export"  # train_ldm --vae reads it; the LDM export ships it as vae/


def make_vae(channels=(64, 128, 192, 192), layers=1, latent=4, size=128):
    from diffusers import AutoencoderKL

    n = len(channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(channels),
        layers_per_block=layers,
        latent_channels=latent,
        norm_num_groups=min(32, channels[0]),
        sample_size=size,
    )


def to_tensor(u8: np.ndarray) -> torch.Tensor:
    """uint8 N,H,W,3 -> float N,3,H,W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def random_crops(imgs: np.ndarray, batch: int, crop: int, gen: torch.Generator) -> torch.Tensor:
    n, h, w, _ = imgs.shape
    idx = torch.randint(0, n, (batch,), generator=gen).tolist()
    ys = torch.randint(0, h - crop + 1, (batch,), generator=gen).tolist()
    xs = torch.randint(0, w - crop + 1, (batch,), generator=gen).tolist()
    flips = torch.rand(batch, generator=gen).lt(0.5).tolist()
    out = np.empty((batch, crop, crop, 3), np.uint8)
    for k, (i, y, x, f) in enumerate(zip(idx, ys, xs, flips)):
        c = imgs[i, y : y + crop, x : x + crop]
        out[k] = c[:, ::-1] if f else c
    return to_tensor(out)


# ---------------------------------------------------------------- metrics
def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [0, 1]."""
    mse = (x - y).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def ssim(x: torch.Tensor, y: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004: Gaussian 11x11, sigma 1.5, K1=.01, K2=.03, data range 1), channel mean."""
    c = x.shape[1]
    g = torch.exp(-((torch.arange(win, dtype=torch.float32) - win // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).expand(c, 1, win, win).contiguous()

    def f(t):
        return F.conv2d(t, k, groups=c)

    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return m.flatten(1).mean(1)


@torch.no_grad()
def evaluate(vae, imgs: np.ndarray, batch: int = 16) -> tuple[dict, torch.Tensor]:
    vae.eval()
    ps, ss, recs = [], [], []
    for i in range(0, len(imgs), batch):
        x = to_tensor(imgs[i : i + batch])
        r = vae.decode(vae.encode(x).latent_dist.mode()).sample
        a, b = (x + 1) / 2, ((r + 1) / 2).clamp(0, 1)
        b = (b * 255).round() / 255  # as it would be saved
        ps.append(psnr(a, b))
        ss.append(ssim(a, b))
        recs.append(b)
    vae.train()
    p, s = torch.cat(ps), torch.cat(ss)
    return dict(
        psnr=round(p.mean().item(), 3),
        psnr_median=round(p.median().item(), 3),
        ssim=round(s.mean().item(), 4),
        n=len(p),
    ), torch.cat(recs)


@torch.no_grad()
def latent_stats(vae, imgs: np.ndarray, batch: int = 16) -> dict:
    vae.eval()
    g = torch.Generator().manual_seed(0)  # its own: an export never moves the training's random streams
    zs = [vae.encode(to_tensor(imgs[i : i + batch])).latent_dist.sample(g) for i in range(0, len(imgs), batch)]
    vae.train()
    z = torch.cat(zs)
    return dict(
        std=z.std().item(),
        mean=z.mean().item(),
        scaling_factor=1.0 / z.std().item(),
        channel_std=[round(v, 4) for v in z.std(dim=(0, 2, 3)).tolist()],
        channel_mean=[round(v, 4) for v in z.mean(dim=(0, 2, 3)).tolist()],
        n=len(z),
    )


def grid_png(orig: np.ndarray, rec: torch.Tensor, path: Path, n: int = 16):
    from PIL import Image

    idx = np.unique(np.linspace(0, len(orig) - 1, min(n, len(orig))).round().astype(int))  # spread over sources
    top = np.concatenate(list(orig[idx]), axis=1)
    bot = np.concatenate(list((rec[idx].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)), axis=1)
    Image.fromarray(np.concatenate([top, bot], axis=0)).save(path)


# ---------------------------------------------------------------- benchmark
def bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for ch in [(32, 64, 128, 128), (32, 64, 64, 64), (16, 32, 64, 64), (32, 64, 96, 96)]:
        vae = make_vae(ch)
        opt = torch.optim.AdamW(vae.parameters(), lr=1e-4)
        params = sum(p.numel() for p in vae.parameters())
        for crop in (64, 128):
            x = torch.rand(args.batch, 3, crop, crop) * 2 - 1
            ts = []
            for _i in range(4):
                t = time.time()
                post = vae.encode(x).latent_dist
                r = vae.decode(post.sample()).sample
                loss = (r - x).abs().mean() + 1e-6 * post.kl().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                ts.append(time.time() - t)
            rows.append(
                dict(
                    channels=ch,
                    params=params,
                    crop=crop,
                    batch=args.batch,
                    threads=args.threads,
                    sec_per_step=round(float(np.median(ts[1:])), 3),
                )
            )
            print(rows[-1], flush=True)
    return rows


def freeze_encoder(vae) -> None:
    """Decoder-only fine-tuning: the encoder (and quant_conv) stay fixed, so the latents a UNet was trained on keep
    their meaning while the decoder learns to draw them sharper (cf. SD's ft-MSE VAE decoders)."""
    vae.encoder.requires_grad_(False)
    if getattr(vae, "quant_conv", None) is not None:
        vae.quant_conv.requires_grad_(False)


# ---------------------------------------------------------------- training
class Trainer(ResumableRun):
    tag, seen_key = "vae", "images_seen"

    def __init__(self, a):
        super().__init__(a, a.run_dir, a.out)
        t = time.time()
        self.train_imgs, _ = colour_data.load_split(a.data, "train")
        test, recs = colour_data.load_split(a.data, "test")
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(test), size=min(a.eval_n, len(test)), replace=False))
        self.eval_imgs = test[pick]
        self.eval_ids = [f"{recs[i]['source']}/{recs[i]['id']}" for i in pick]
        self.scale_imgs = self.train_imgs[
            np.random.default_rng(1).choice(len(self.train_imgs), min(256, len(self.train_imgs)), replace=False)
        ]
        self.log(
            f"data: {len(self.train_imgs)} train images, {len(self.eval_imgs)} eval (of {len(test)} test) "
            f"loaded in {time.time() - t:.1f}s"
        )
        self.state["evals"] = []
        ck = self.resume()
        if ck is not None:
            if bool(self.cfg.get("decoder_only")) != a.decoder_only:
                raise SystemExit(
                    f"The run in {self.run} was started {'with' if self.cfg.get('decoder_only') else 'without'} "
                    "--decoder-only: resume it the same way, or give another --run-dir."
                )
            if self.cfg.get("init"):  # its config (e.g. the LDM's latents_mean/std) travels with the weights
                from diffusers import AutoencoderKL

                self.vae = AutoencoderKL.from_config(AutoencoderKL.load_config(self.cfg["init"]))
            else:
                self.vae = make_vae(tuple(self.cfg["channels"]), self.cfg["layers"])
            self.vae.load_state_dict(ck["model"])
            if self.cfg.get("decoder_only"):
                freeze_encoder(self.vae)
            self.opt = self._opt()
            self.opt.load_state_dict(ck["opt"])
        else:
            self.cfg = dict(
                channels=list(a.channels),
                layers=a.layers,
                crop=a.crop,
                batch=a.batch,
                lr=a.lr,
                kl_weight=a.kl_weight,
                mse_weight=a.mse_weight,
                seed=a.seed,
                init=a.init,
                warmup=a.warmup,
                lr_half_every=a.lr_half_every,
                decoder_only=a.decoder_only,
            )
            if a.decoder_only and not a.init:
                raise SystemExit("--decoder-only fine-tunes a trained VAE's decoder: give it with --init DIR.")
            if a.decoder_only and (a.run_dir == DEFAULT_RUN or a.out == DEFAULT_OUT):
                raise SystemExit(
                    "--decoder-only needs its own --run-dir and --out (the defaults belong to the colour VAE's run "
                    "and its export)."
                )
            if a.init:
                from diffusers import AutoencoderKL

                self.vae = AutoencoderKL.from_pretrained(a.init, torch_dtype=torch.float32)
                self.cfg["channels"] = list(self.vae.config.block_out_channels)
                self.cfg["layers"] = self.vae.config.layers_per_block
            else:
                self.vae = make_vae(tuple(a.channels), a.layers)
            if a.decoder_only:
                freeze_encoder(self.vae)
            self.opt = self._opt()
        self.vae.train()
        self.params = sum(p.numel() for p in self.vae.parameters())

    def _opt(self):
        params = [p for p in self.vae.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.cfg["lr"], betas=(0.9, 0.99), weight_decay=0.0)

    def lr_at(self, step):
        warm = self.cfg.get("warmup", 300)
        half = self.cfg.get("lr_half_every") or 0
        decay = 0.5 ** (step // half) if half else 1.0
        return self.cfg["lr"] * min(1.0, (step + 1) / warm) * decay

    def train_step(self):
        c = self.cfg
        x = random_crops(self.train_imgs, c["batch"], c["crop"], self.gen)
        with torch.set_grad_enabled(not c.get("decoder_only")):
            post = self.vae.encode(x).latent_dist
        r = self.vae.decode(post.sample(generator=None)).sample
        npix = x[0].numel()
        rec = (r - x).abs().mean()
        mse = (r - x).pow(2).mean()
        kl = post.kl().mean() / npix  # SD: 1e-6 * KL-sum / pixel-loss-sum, per sample
        loss = rec + c["mse_weight"] * mse + c["kl_weight"] * kl
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.state["step"])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.vae.parameters(), 1.0)
        self.opt.step()
        return loss.item(), f"l1 {rec.item():.4f} kl {(kl * npix).item():.0f} "

    def checkpoint_tensors(self) -> dict:
        return dict(model=self.vae.state_dict(), opt=self.opt.state_dict())

    def export(self):
        t = time.time()
        m, rec = evaluate(self.vae, self.eval_imgs)
        ls = latent_stats(self.vae, self.scale_imgs)
        m.update(
            step=self.state["step"],
            hours=round(self.state["seconds"] / 3600, 3),
            scaling_factor=round(ls["scaling_factor"], 5),
        )
        self.state["evals"].append(m)
        grid = self.run / f"recon_step{self.state['step']:07d}.png"
        grid_png(self.eval_imgs, rec, grid)
        shutil.copy(grid, self.out.parent / f"{self.out.name}_recon.png")
        self.vae.register_to_config(scaling_factor=float(ls["scaling_factor"]))
        self.publish(lambda d: self.vae.save_pretrained(d, safe_serialization=True, max_shard_size="9MB"))
        self.write_card(m, ls)
        self.log(
            f"export step {self.state['step']}: PSNR {m['psnr']:.2f} dB (median {m['psnr_median']:.2f}), "
            f"SSIM {m['ssim']:.4f} on {m['n']} held-out 128px images; scaling_factor {ls['scaling_factor']:.4f}; "
            f"took {time.time() - t:.0f}s -> {self.out}"
        )

    def write_card(self, m, ls):
        import diffusers

        data_meta = json.loads((Path(self.a.data).expanduser() / "sources.json").read_text())
        curve = self.state["loss_curve"]
        stride = max(1, len(curve) // 200)
        card = dict(
            model="diffusers AutoencoderKL",
            purpose="latent autoencoder for a miniature Stable Diffusion on genlab's colour dataset",
            architecture=dict(
                block_out_channels=self.cfg["channels"],
                layers_per_block=self.cfg["layers"],
                latent_channels=4,
                downsampling=2 ** (len(self.cfg["channels"]) - 1),
                latent_shape_at_128px=[4] + [128 // 2 ** (len(self.cfg["channels"]) - 1)] * 2,
                params=self.params,
                mid_block_attention=True,
            ),
            scaling_factor=ls["scaling_factor"],
            latent_stats=ls,
            training=dict(
                steps=self.state["step"],
                images_seen=self.state["images_seen"],
                wall_hours=round(self.state["seconds"] / 3600, 3),
                started=self.state["started"],
                updated=time.strftime("%Y-%m-%d %H:%M:%S"),
                seed=self.cfg["seed"],
                crop=self.cfg["crop"],
                batch=self.cfg["batch"],
                lr=self.cfg["lr"],
                optimizer=f"AdamW(0.9, 0.99), {self.cfg.get('warmup', 300)}-step warm-up, lr halved every "
                f"{self.cfg.get('lr_half_every') or 'never'} steps, grad clip 1",
                loss=f"L1 + {self.cfg['mse_weight']}*MSE + {self.cfg['kl_weight']}*KL (KL summed over latents / pixels summed, as SD)",
                threads=torch.get_num_threads(),
                init=self.cfg.get("init"),
                command=" ".join(["python", str(Path(sys.argv[0]).resolve()), *sys.argv[1:]]),
                machine=f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}, diffusers {diffusers.__version__}",
            ),
            metrics=dict(
                m,
                eval_split="test",
                eval_images=len(self.eval_imgs),
                eval_resolution=128,
                note="PSNR/SSIM on RGB in [0,1] after 8-bit rounding; SSIM Gaussian 11x11 sigma 1.5",
            ),
            eval_history=self.state["evals"],
            loss_curve=[dict(step=s, loss=round(v, 5)) for s, v in curve[::stride]],
            data=dict(
                path=str(Path(self.a.data).expanduser()),
                split="train",
                n_train=len(self.train_imgs),
                sources={
                    k: dict(
                        licence=v["licence"],
                        package=v["package"],
                        images=v["total"],
                        attribution=SOURCE_ATTR.get(k, ""),
                    )
                    for k, v in data_meta["sources"].items()
                },
                builder="python -m genlab.colour.data --out ~/.cache/genlab/colour128",
            ),
            licence_note="Weights trained on CC BY 4.0 (Twemoji), CC BY-SA 4.0 (OpenMoji, EmojiOne via gemojione), "
            "OFL 1.1 (Noto Color Emoji) and public-domain (Openclipart) artwork; keep these attributions.",
        )
        tmp = self.out.with_name(self.out.name + ".json.tmp")
        tmp.write_text(json.dumps(card, indent=2))
        os.replace(tmp, self.out.with_name(self.out.name + ".json"))


SOURCE_ATTR = {k: v["attribution"] for k, v in colour_data.SOURCES.items()}


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--run-dir", default=DEFAULT_RUN)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--channels", type=int, nargs="+", default=[64, 128, 192, 192])
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100, help="linear learning-rate warm-up steps")
    ap.add_argument(
        "--lr-half-every", type=int, default=15000, help="halve the learning rate every N steps (0: constant)"
    )
    ap.add_argument("--set-lr", type=float, default=None, help="with --resume: replace the run's base learning rate")
    ap.add_argument("--kl-weight", type=float, default=1e-6)
    ap.add_argument("--mse-weight", type=float, default=1.0)
    add_run_args(ap, hours=24.0, threads=1, tqdm_seconds=120.0)
    ap.add_argument("--eval-n", type=int, default=96)
    ap.add_argument("--init", default=None, help="start from exported AutoencoderKL weights (a save_pretrained dir)")
    ap.add_argument(
        "--decoder-only",
        action="store_true",
        help="with --init: train the decoder only (keeps the latents, e.g. weights/colour_ldm/vae under a trained UNet)",
    )
    ap.add_argument("--export-first", action="store_true", help="evaluate+export before the first step even on resume")
    ap.add_argument("--bench", action="store_true")
    return ap.parse_args(argv)


def train(a: argparse.Namespace) -> Trainer:
    """Start or resume the run the arguments describe; train until it ends."""
    tr = Trainer(a)
    tr.fit(export_first=tr.state["step"] == 0 or a.export_first)
    return tr


def main(argv=None):
    a = parse(argv)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    if a.bench:
        bench(a)
        return
    train(a)


if __name__ == "__main__":
    main()
