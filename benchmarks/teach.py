"""Teach, measured on the held-out concept sets (pictures whose names the colour model never saw in a caption):

* learns: the perceptual nearest-neighbour distance (genlab.techniques.teach.evaluate) from 8 samples to the
  set's pictures, for the base model's samples of the concept word ("a tiger"), and of the trigger prompt
  ("a sks tiger") with a LoRA (prior preservation on and off) and with textual inversion; lower = closer, and
  the share of the gap to the pictures' own spread that each closes;
* keeps the rest: the distance between the class prompt's samples ("a cat") with and without the adapter,
  seed by seed (0 = unchanged), beside the distance between two seeds of the base model;
* time: each run's training wall time, in process; with --app, one default request through the running app
  (until the first live grid, and until the adapter).

Every adapter is used through genlab.models.diffusion.use_adapter, the code path of the Prompt-to-image tab.

    python benchmarks/teach.py [--sets tiger umbrella guitar] [--seeds 0 1] [--steps 200] [--image PATH]
    python benchmarks/teach.py --app [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVAL_SEEDS = list(range(5000, 5008))  # never a training seed (class pictures use seed + 1000 + i)
RUNS = {  # name -> (method, prior)
    "LoRA, prior on": ("lora", True),
    "LoRA, prior off": ("lora", False),
    "textual inversion": ("textual inversion", False),
}


def samples(prompt: str, adapter: str | None):
    from genlab.core.devices import cpu_generator
    from genlab.models import diffusion

    base, _ = diffusion.MODELS.get(diffusion.COLOUR_MODEL)
    pipe, _ = diffusion.request_copy(base, "DPM-Solver++")
    diffusion.use_adapter(base, pipe, adapter, 1.0)
    gens = [cpu_generator(s) for s in EVAL_SEEDS]
    return pipe([prompt] * len(EVAL_SEEDS), num_inference_steps=20, guidance_scale=5.0, generator=gens).images


def teach_once(name: str, method: str, prior: bool, seed: int, steps: int) -> tuple[str, float]:
    from genlab.core.control import Control
    from genlab.core.steps import Result
    from genlab.techniques import teach
    from genlab.techniques.teach.sets import SETS

    ps = SETS[name]
    s = teach.Settings(
        pictures=name,
        method=method,
        prompt=ps.prompt,
        class_prompt=ps.class_prompt,
        prior=prior,
        steps=steps,
        every=steps,
        lr=teach.DEFAULT_LR[method],
        seed=seed,
    )
    t0 = time.perf_counter()
    for item in teach.run(s, {}, Control(seconds=3600, budget=1e12)):
        if isinstance(item, Result):
            return item.data["adapter"], time.perf_counter() - t0
    raise RuntimeError("no result")


def app_time(steps: int) -> dict:
    """One /teach request with the tab's defaults (the tiger set, LoRA, prior preservation on) through the running
    app: seconds until the first live grid arrives and until the adapter does (the first model load included)."""
    from common import start_app
    from gradio_client import Client

    proc, url, _ = start_app()
    try:
        client = Client(url, verbose=False)
        t0 = time.perf_counter()
        job = client.submit(steps=steps, api_name="/teach")
        first = None
        while not job.done():
            if first is None and any(out and out[0] for out in job.outputs()):  # an output with a grid picture
                first = time.perf_counter() - t0
            time.sleep(0.05)
        *_, adapter, info = job.result()
        total = time.perf_counter() - t0
        if not str(adapter).endswith(".safetensors"):
            raise SystemExit(f"no adapter came back: {info}")
        return {"first_grid_s": round(first or total, 1), "adapter_s": round(total, 1), "steps": steps}
    finally:
        proc.kill()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=["tiger", "umbrella", "guitar"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--image", default=None, help="save a picture of base / LoRA / textual inversion samples here")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--app", action="store_true", help="only time one default /teach request through the app")
    a = ap.parse_args(argv)
    if a.app:
        figures = app_time(a.steps)
        print(json.dumps(figures))
        return figures
    from PIL import Image

    from genlab.techniques.teach.evaluate import gap_closed, nearest, paired, spread
    from genlab.techniques.teach.sets import SETS, pictures

    rows, shown = [], []
    for name in a.sets:
        ps = SETS[name]
        refs = [Image.open(p).convert("RGB") for p in pictures(name)]
        word = f"a {ps.concept}"
        base_word = samples(word, None)
        base_trigger = samples(ps.prompt, None)
        base_class = samples(ps.class_prompt, None)
        row = {
            "set": name,
            "pictures' spread": spread(refs),
            "base, concept word": nearest(base_word, refs),
            "base, trigger prompt": nearest(base_trigger, refs),
            "base, another seed": paired(base_class, base_class[1:] + base_class[:1]),
        }
        strip = [("base: " + word, base_word)]
        for run_name, (method, prior) in RUNS.items():
            near, drift, secs = [], [], []
            for seed in a.seeds:
                path, t = teach_once(name, method, prior, seed, a.steps)
                trig = samples(ps.prompt, path)
                near.append(nearest(trig, refs))
                drift.append(paired(samples(ps.class_prompt, path), base_class))
                secs.append(t)
                if seed == a.seeds[0]:
                    strip.append((f"{run_name}: {ps.prompt}", trig))
            row[run_name] = statistics.mean(near)
            row[f"{run_name} gap closed"] = gap_closed(
                row["base, concept word"], row[run_name], row["pictures' spread"]
            )
            row[f"{run_name} drift"] = statistics.mean(drift)
            row[f"{run_name} seconds"] = statistics.mean(secs)
            print(
                f"{name:9s} {run_name:18s} near {row[run_name]:.3f}  drift {row[run_name + ' drift']:.3f}  "
                f"{row[run_name + ' seconds']:.0f} s",
                flush=True,
            )
        print(
            f"{name:9s} base: concept word {row['base, concept word']:.3f}, trigger {row['base, trigger prompt']:.3f}"
        )
        rows.append(row)
        shown.append((name, strip))
    keys = [
        "pictures' spread",
        "base, concept word",
        "base, another seed",
        *RUNS,
        *(f"{r} gap closed" for r in RUNS),
        *(f"{r} drift" for r in RUNS),
        *(f"{r} seconds" for r in RUNS),
    ]
    print("\nmean over sets:", json.dumps({k: round(statistics.mean(r[k] for r in rows), 3) for k in keys}))
    if a.image:
        _picture(shown, a.image)
    out = {"steps": a.steps, "seeds": a.seeds, "eval_seeds": EVAL_SEEDS, "rows": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


def _picture(shown, path: str, cell: int = 96) -> None:
    from PIL import Image, ImageDraw

    n_rows = sum(len(strip) for _, strip in shown)
    out = Image.new("RGB", (4 * cell + 250, n_rows * cell), "white")
    draw = ImageDraw.Draw(out)
    y = 0
    for _name, strip in shown:
        for label, ims in strip:
            draw.text((4, y + cell // 2 - 6), label[:40], fill=(0, 0, 0))
            for j, im in enumerate(ims[:4]):
                out.paste(im.resize((cell, cell)), (250 + j * cell, y))
            y += cell
    out.save(path, quality=90)


if __name__ == "__main__":
    main()
