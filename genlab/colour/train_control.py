"""Train a ControlNet (Zhang et al. 2023) for the shipped colour model on Canny edges (--cond canny) or HED soft
edges (--cond hed) of its training pictures.

The colour UNet, VAE and MiniLM stay frozen; the ControlNet starts as a copy of the UNet's encoder and middle
(diffusers' `ControlNetModel.from_unet`) with zero convolutions into the UNet. Once per run the train split is
encoded as for the UNet (genlab.colour.train_ldm.prepare: VAE posteriors of each picture and its mirror, MiniLM
features of every caption) and its maps are cached: Canny edges bit-packed [N,128*128/8], or HED's soft edges
(genlab.colour.hed.soft_maps, bf16 autocast) as uint8 [N,128,128]. Each step: a batch of latents, captions
(dropped to the empty prompt with --p-uncond, so the ControlNet also works from lines alone, as the paper's
50 %), their maps (Canny edges made scribble-like at random by genlab.colour.control.scribble; HED maps as they
are, mirrored, as the paper trains its HED model), and the epsilon loss (min-SNR-5) of the frozen UNet with the
ControlNet's residuals. Exports (fp16 safetensors shards <= 9 MB, a card, a sample grid of held-out test
pictures' maps) go to weights/colour_controlnet (canny) or weights/colour_controlnet_hed.

    python -m genlab.colour.train_control --hours 1            # start (or --resume) a run
    python -m genlab.colour.train_control --init weights/colour_controlnet --hours 1   # continue the shipped one
    python -m genlab.colour.train_control --cond hed --init weights/colour_controlnet --hours 1   # HED, from Canny
    python -m genlab.colour.train_control --bench              # step time, fp32 vs bf16 autocast
    python -m genlab.colour.train_control --cond hed --colour-oversample 4 ...   # coloured pictures 4x as often
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab.colour import control, ldm
from genlab.colour import data as colour_data
from genlab.colour.runs import ResumableRun, add_run_args
from genlab.colour.train_ldm import DEFAULT_DATA, channel_stats, draw_batch, prepare

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RUN = "~/.cache/genlab/runs/{name}"  # name: the shipped folder's, per --cond
SAMPLE_PROMPTS = ["", "a red drawing", "a blue drawing", "a green drawing"]  # rows; columns: test pictures
N_SAMPLE_PICTURES = 6


def log(msg: str) -> None:
    print(f"[control] {msg}", flush=True)


def edges_cache(run: Path, data: str, cond: str = "canny") -> np.ndarray:
    """The train split's maps, computed once: Canny edges bit-packed [N, 128*128/8] uint8, or HED soft edges
    [N,128,128] uint8 (probability x 255)."""
    f = run / ("edges.npy" if cond == "canny" else "hed.npy")
    if not f.exists():
        imgs, _ = colour_data.load_split(data, "train")
        t = time.time()
        if cond == "canny":
            e = control.canny(imgs) > 0  # [N,128,128]
            np.save(f, np.packbits(e.reshape(len(e), -1), axis=1))
            log(f"Canny edges of {len(imgs)} pictures in {time.time() - t:.0f}s ({e.mean():.1%} edge pixels)")
        else:
            from genlab.colour import hed

            out = np.lib.format.open_memmap(f.with_suffix(".tmp.npy"), "w+", np.uint8, (len(imgs), 128, 128))
            step = 512
            for i in range(0, len(imgs), step):
                out[i : i + step] = np.round(hed.soft_maps(imgs[i : i + step], bf16=True) * 255)
                log(f"HED soft edges: {min(i + step, len(imgs))}/{len(imgs)} in {time.time() - t:.0f}s")
            out.flush()
            del out
            os.replace(f.with_suffix(".tmp.npy"), f)
    return np.load(f, mmap_mode="r")


def unpack(maps: np.ndarray, img: np.ndarray, flip: np.ndarray, size: int = 128) -> torch.Tensor:
    """Maps [B,1,size,size] of the given pictures, mirrored where flip is 1: edges in {0,1} from bit-packed rows
    [N,size*size/8], soft edges in [0,1] from uint8 maps [N,size,size]."""
    rows = np.stack([maps[i] for i in img])
    if rows.ndim == 2:
        e = np.unpackbits(rows, axis=1).reshape(len(img), size, size).astype(np.float32)
    else:
        e = rows.astype(np.float32) / 255
    e = np.where(flip[:, None, None].astype(bool), e[:, :, ::-1], e)
    return torch.from_numpy(np.ascontiguousarray(e))[:, None]


def colour_focus(recs: list[dict], k: int) -> dict:
    """--colour-oversample k: pictures whose record names a colour are drawn k times as often, with one of their
    captions that names that colour (genlab.colour.data.name_colour; all their captions if none does), so the
    ControlNet learns more often to leave colour to the caption. Returns draw_batch's "pool", "cap_start" and
    "cap_index" (the caption ranges are prepare()'s, with the coloured pictures' narrowed)."""
    pool, starts, index, c = [], [0], [], 0
    for i, r in enumerate(recs):
        own = list(range(c, c + len(r["captions"])))
        c += len(own)
        named = [j for j, t in zip(own, r["captions"]) if r.get("colour") and colour_data.name_colour(t) == r["colour"]]
        pool += [i] * (k if r.get("colour") else 1)
        index += named or own
        starts.append(len(index))
    return dict(pool=np.asarray(pool), cap_start=np.asarray(starts), cap_index=np.asarray(index))


def _repo_relative(path) -> str:
    p = Path(path).expanduser().resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(path)


class Trainer(ResumableRun):
    tag = "control"

    def __init__(self, a):
        from accelerate import Accelerator
        from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

        self.acc = Accelerator(cpu=not torch.cuda.is_available())
        run = Path(a.run_dir).expanduser()
        run.mkdir(parents=True, exist_ok=True)
        base = Path(a.base)
        self.vae = AutoencoderKL.from_pretrained(base / "vae", torch_dtype=torch.float32).eval().requires_grad_(False)
        self.data = prepare(run, a.data, self.vae)
        self.edges = edges_cache(run, a.data, a.cond)
        super().__init__(a, run, a.out)
        self.batches = self.data
        mean, std = channel_stats(self.data["z_mean"], self.data["z_std"])
        self.lat_mean = torch.tensor(mean).view(1, 4, 1, 1)
        self.lat_std = torch.tensor(std).view(1, 4, 1, 1)
        self.unet = UNet2DConditionModel.from_pretrained(base / "unet", torch_dtype=torch.float32)
        self.unet.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.sched = ldm.build_scheduler()
        ac = self.sched.alphas_cumprod
        self.snr = ac / (1 - ac)
        self.state["exports"] = []
        ck = self.resume()
        if ck is not None:
            self.net = control.build_controlnet(self.unet)
            self.net.load_state_dict(ck["model"])
            self.opt = self._opt()
            self.opt.load_state_dict(ck["opt"])
        else:
            self.cfg = dict(
                batch=a.batch,
                lr=a.lr,
                warmup=a.warmup,
                p_uncond=a.p_uncond,
                min_snr=a.min_snr,
                seed=a.seed,
                init=a.init,
                base=_repo_relative(a.base),
                bf16=a.bf16,
                cond=a.cond,
                colour_oversample=a.colour_oversample,
            )
            if a.init:
                # the run it continues: its card's training record, so the total step count stays on the card
                prev = Path(a.init).with_name(Path(a.init).name + ".json")
                if prev.exists():
                    t = json.loads(prev.read_text())["training"]
                    earlier = [*t.pop("earlier_runs", []), t]
                    self.cfg["earlier_runs"] = earlier
                    self.cfg["init_steps"] = sum(r["steps"] for r in earlier)
                self.net = ControlNetModel.from_pretrained(a.init, torch_dtype=torch.float32)
            else:
                self.net = control.build_controlnet(self.unet)
            self.opt = self._opt()
        self.net.train().to(memory_format=torch.channels_last)
        self.net, self.opt = self.acc.prepare(self.net, self.opt)
        self.params = sum(p.numel() for p in self.acc.unwrap_model(self.net).parameters())
        self.test = self._test_pictures()
        if self.cfg.get("colour_oversample", 1) > 1:
            self.batches = {**self.data, **colour_focus(self.data["records"], self.cfg["colour_oversample"])}

    def _opt(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.cfg["lr"], betas=(0.9, 0.999), weight_decay=1e-2)

    def _test_pictures(self):
        """The first N_SAMPLE_PICTURES of the test split (never trained on) for the sample grid: (pictures, edges)."""
        imgs, _ = colour_data.load_split(self.a.data, "test")
        pick = np.linspace(0, len(imgs) - 1, N_SAMPLE_PICTURES).astype(int)
        return imgs[pick], control.maps(imgs[pick], self.cond)[0]

    @property
    def cond(self) -> str:
        """The maps this run learns (canny or hed; runs from before --cond existed are canny)."""
        return self.cfg.get("cond", "canny")

    def autocast(self):
        on = self.cfg.get("bf16") and self.acc.device.type == "cpu"
        return torch.autocast("cpu", dtype=torch.bfloat16) if on else nullcontext()

    def train_step(self):
        zn, h, m, p, img, flip = draw_batch(
            self.batches, self.cfg["batch"], self.gen, self.lat_mean, self.lat_std, self.cfg["p_uncond"]
        )
        e = unpack(self.edges, img, flip)
        if self.cond == "canny":
            e = control.scribble(e, self.gen)
        b = len(zn)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (b,), generator=self.gen)
        noise = torch.randn(zn.shape, generator=self.gen)
        x = self.sched.add_noise(zn, noise, t).contiguous(memory_format=torch.channels_last)
        dev = self.acc.device
        x, t, h, m, p, e = (v.to(dev) for v in (x, t, h, m, p, e))
        with self.autocast():
            down, mid = self.net(x, t, h, controlnet_cond=e, class_labels=p, return_dict=False)
            pred = self.unet(
                x,
                t,
                h,
                class_labels=p,
                encoder_attention_mask=m,
                down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
            ).sample
        snr = self.snr[t.cpu()]
        w = torch.clamp(snr, max=self.cfg["min_snr"]) / snr  # min-SNR-gamma (Hang et al. 2023, eq. 10)
        loss = (w.to(dev) * F.mse_loss(pred.float(), noise.to(dev), reduction="none").mean((1, 2, 3))).mean()
        for gr in self.opt.param_groups:
            gr["lr"] = self.cfg["lr"] * min(1.0, (self.state["step"] + 1) / self.cfg["warmup"])
        self.opt.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.acc.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        return loss.item(), ""

    def checkpoint_tensors(self) -> dict:
        return dict(model=self.acc.unwrap_model(self.net).state_dict(), opt=self.opt.state_dict())

    @torch.no_grad()
    def sample_grid(self, net) -> np.ndarray:
        """Rows: the edges, then SAMPLE_PROMPTS with the ControlNet; columns: the held-out test pictures."""
        from diffusers import AutoencoderKL, DPMSolverMultistepScheduler

        from genlab.models.text_encoder import ENCODER

        pipe = ldm.ColourLDMPipeline(
            vae=AutoencoderKL.from_pretrained(Path(self.a.base) / "vae", torch_dtype=torch.float32),
            unet=self.unet,
            text_encoder=ENCODER.get(),
            scheduler=DPMSolverMultistepScheduler.from_config(self.sched.config, algorithm_type="dpmsolver++"),
        )
        pipe.set_progress_bar_config(disable=True)
        pics, edges = self.test
        rows = [np.repeat((edges[:, 0].numpy() * 255).astype(np.uint8)[..., None], 3, -1)]
        for k, prompt in enumerate(SAMPLE_PROMPTS):
            gens = [torch.Generator().manual_seed(k * 100 + j) for j in range(len(pics))]
            out = pipe(
                [prompt] * len(pics),
                generator=gens,
                num_inference_steps=20,
                output_type="pt",
                controlnet=net,
                image=edges,
            ).images
            rows.append((out.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
        return np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)

    def export(self):
        from PIL import Image

        t = time.time()
        net = self.acc.unwrap_model(self.net).eval()
        grid = self.sample_grid(net)
        net.train()
        g = self.run / f"samples_step{self.state['step']:07d}.png"
        Image.fromarray(grid).save(g)
        import copy

        half = copy.deepcopy(net).half()
        self.publish(lambda d: half.save_pretrained(d, safe_serialization=True, max_shard_size="9MB"))
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
        hed = self.cond == "hed"
        if hed:
            from genlab.colour.hed import SOFT_SIDE, load

            conditioning = (
                f"HED soft edges [B,1,128,128] in [0,1]: genlab.colour.hed.soft_maps, HED at {SOFT_SIDE} px "
                f"(bf16 autocast), area-reduced to 128 px; edge weights {load()[1]}"
            )
            augment = "mirror (the maps as HED gives them, as the paper trains its HED ControlNet)"
        else:
            conditioning = (
                f"edge map [B,1,128,128] in {{0,1}} (1 = line); OpenCV Canny {control.CANNY_LOW}/"
                f"{control.CANNY_HIGH} on a 3x3-blurred grey picture"
            )
            augment = (
                "mirror; scribble-like edges: lines thickened to 1/3/5 px, half the pictures with up to a "
                "third of 16x16 cells erased"
            )
        card = dict(
            model="genlab colour ControlNet (diffusers ControlNetModel.from_unet of the colour UNet, 1-channel "
            + ("HED soft edges)" if hed else "edges)"),
            purpose="structural control of the colour model: it follows "
            + (
                "the soft edges HED finds in a photo (the tab's soft-edges source)"
                if hed
                else "the lines of an edge map or a scribble"
            ),
            architecture=dict(
                base=c["base"],
                params=self.params,
                conditioning=conditioning,
                note="zero convolutions into the frozen UNet's skips and middle (Zhang et al. 2023, eq. 1-2)",
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
                loss=f"epsilon MSE of the frozen UNet with the ControlNet's residuals, min-SNR-{c['min_snr']}; "
                f"caption dropped {c['p_uncond']:.0%}"
                + (
                    f"; pictures whose record names a colour drawn {c['colour_oversample']}x as often, with a "
                    "caption naming it"
                    if c.get("colour_oversample", 1) > 1
                    else ""
                ),
                augment=augment,
                autocast="bf16" if c.get("bf16") else "fp32",
                threads=torch.get_num_threads(),
                init=c.get("init") and _repo_relative(c["init"]),
                total_steps=self.state["step"] + c.get("init_steps", 0),
                earlier_runs=c.get("earlier_runs", []),
                command=" ".join(["python -m genlab.colour.train_control", *sys.argv[1:]]),
                machine=f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}, "
                f"diffusers {diffusers.__version__}",
            ),
            exports=self.state["exports"],
            loss_curve=[dict(step=s, loss=round(v, 5)) for s, v in curve[::stride]],
            data=dict(
                builder="python -m genlab.colour.data --out ~/.cache/genlab/colour128",
                split="train (the samples use test-split pictures, never trained on)",
                n_train=int(self.data["n_images"]),
                sources={
                    k: dict(licence=v["licence"], package=v["package"], images=v["total"])
                    for k, v in data_meta["sources"].items()
                },
            ),
            licence_note="Trained on CC BY 4.0 (Twemoji), CC BY-SA 4.0 (OpenMoji, EmojiOne via gemojione), "
            "OFL 1.1 (Noto Color Emoji) and public-domain (Openclipart) artwork through the colour model's "
            "dataset; keep these attributions.",
        )
        old = {}
        path = self.out.with_name(self.out.name + ".json")
        if path.exists():  # keep the figures the benchmark wrote
            old = {
                k: v
                for k, v in json.loads(path.read_text()).items()
                if k in ("metrics", "speed", "strength_choice", "photos")
            }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**card, **old}, indent=2))
        os.replace(tmp, path)


def bench(a, steps: int = 6):
    """Seconds per training step at --batch, fp32 vs bf16 autocast (first step not counted)."""
    for bf16 in (False, True):
        a.bf16 = bf16
        tr = Trainer(a)
        times = []
        for _ in range(steps):
            t = time.time()
            tr.train_step()
            times.append(time.time() - t)
        print(f"batch {a.batch} {'bf16' if bf16 else 'fp32'}: {np.median(times[1:]):.3f} s/step", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--base", default=str(REPO / "weights" / ldm.SHIPPED_NAME), help="the colour pipeline folder")
    ap.add_argument("--cond", choices=("canny", "hed"), default="canny", help="the maps it learns to follow")
    ap.add_argument("--run-dir", default=None, help=f"default {DEFAULT_RUN.format(name='<shipped name>')}")
    ap.add_argument("--out", default=None, help="default weights/<shipped name> (colour_controlnet[_hed])")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--set-lr", type=float, default=None, help="with --resume: replace the run's learning rate")
    ap.add_argument("--p-uncond", type=float, default=0.3)
    ap.add_argument("--min-snr", type=float, default=5.0)
    ap.add_argument(
        "--colour-oversample", type=int, default=1, help="draw pictures whose record names a colour k times as often"
    )
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on CPU")
    add_run_args(ap, hours=1.0)
    ap.add_argument("--init", default=None, help="start from an exported ControlNet folder")
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args(argv)
    if a.colour_oversample < 1:
        ap.error(
            f"--colour-oversample is how many times as often a coloured picture is drawn: 1 or more, not {a.colour_oversample}"
        )
    name = control.SHIPPED_NAMES[a.cond]
    a.run_dir = a.run_dir or DEFAULT_RUN.format(name=name)
    a.out = a.out or str(REPO / "weights" / name)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    if a.bench:
        bench(a)
        return
    Trainer(a).fit()


if __name__ == "__main__":
    main()
