"""Train live's run(): the training loop, streamed."""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from PIL import Image

from genlab.core.control import Control
from genlab.core.images import to_pictures
from genlab.core.outputs import output_path
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import Lazy
from genlab.datasets import FASHION_CLASSES
from genlab.models import live
from genlab.models.live import Z_GAN
from genlab.techniques.train_live import BATCH, COVERAGE_SAMPLES, COVERAGE_SHARE, NAME, PRESETS, Settings
from genlab.techniques.train_live.nets import Trainer

TRAIN = Lazy(lambda: __import__("genlab.datasets", fromlist=["fashion_mnist"]).fashion_mnist(True)[0])


def grid(x: torch.Tensor, side: int = 8, scale: int = 3) -> Image.Image:
    """[64,1,28,28] in [0,1] -> an 8x8 grid, enlarged."""
    pics = to_pictures(x[: side * side])
    out = Image.new("L", (side * 30, side * 30), 0)
    for i, p in enumerate(pics):
        out.paste(p, ((i % side) * 30 + 1, (i // side) * 30 + 1))
    return out.resize((out.width * scale, out.height * scale), Image.NEAREST)


def coverage(images: torch.Tensor) -> tuple[int, list[float]]:
    """(classes judged in >= COVERAGE_SHARE of the images, share per class) by genlab's classifier."""
    from genlab.models import classifier

    clf, _ = classifier.MODELS.get("default")
    _, preds = classifier.embed(clf, images)
    share = np.bincount(preds, minlength=len(FASHION_CLASSES)) / len(preds)
    return int((share >= COVERAGE_SHARE).sum()), [round(float(v), 4) for v in share]


def run(s: Settings, inputs: dict, ctl: Control):
    preset = PRESETS[s.preset]
    ctl.charge(s.steps * BATCH * 28 * 28, f"{s.steps} steps of batch {BATCH}", "Use fewer steps.")
    yield Update(0, s.steps, "loading Fashion-MNIST")
    x = TRAIN.get()
    tr = Trainer(preset, s.seed)
    batches = torch.Generator().manual_seed(s.seed + 2)
    fixed = torch.randn(COVERAGE_SAMPLES, Z_GAN, generator=torch.Generator().manual_seed(s.seed + 3))
    losses: list[dict] = []
    covered: list[dict] = []
    last_grid, n_cov, shares = None, 0, []
    t0 = time.perf_counter()
    done = 0
    for i in range(s.steps):
        if ctl.halted():
            break
        idx = torch.randint(0, len(x), (BATCH,), generator=batches)
        for k, v in tr.step(x[idx]).items():
            losses.append({"step": i + 1, "loss": round(v, 4), "curve": k})
        done = i + 1
        if done % s.every == 0 or done == s.steps or done == 1:
            samples = tr.sample(fixed)
            last_grid = grid(samples)
            n_cov, shares = coverage(samples)
            covered.append({"step": done, "classes": n_cov})
            rate = done / (time.perf_counter() - t0)
            yield Update(
                done,
                s.steps,
                f"{rate:.1f} steps/s · {n_cov} classes covered",
                preview=last_grid,
                data={"losses": losses, "coverage": covered},
            )
        elif done % 10 == 0:
            yield Update(done, s.steps, "training")
    if last_grid is None:  # stopped before the first grid
        samples = tr.sample(fixed)
        last_grid = grid(samples)
        n_cov, shares = coverage(samples)
    rate = done / max(time.perf_counter() - t0, 1e-9)
    path = output_path(f"train-live-{s.preset}", ".safetensors")
    live.save(
        path,
        preset.kind,
        tr.network(),
        {
            "preset": s.preset,
            "steps": str(done),
            "seed": str(s.seed),
            "note": "genlab Train live; not genlab's weights",
        },
    )
    recipe = make_recipe(NAME, s.params(), weights="trained in this request", seed=s.seed)
    top = sorted(range(len(shares)), key=lambda k: -shares[k])[:3]
    info = (
        f"**{preset.title}** — {done}/{s.steps} steps at {rate:.1f} steps/s; **{n_cov} of 10 classes** covered at "
        f"the end (most: " + ", ".join(f"{FASHION_CLASSES[k]} {shares[k]:.0%}" for k in top) + f"){ctl.note()}  \n"
        f"*What to watch:* {preset.watch}"
    )
    data = {
        "losses": losses,
        "coverage": covered,
        "weights": str(path),
        "shares": shares,
        "card": json.dumps({"preset": s.preset, "steps": done, "seed": s.seed}),
    }
    yield Result([last_grid], [recipe], info, ["samples from 64 fixed latents"], data, ctl.reason)
