"""Style transfer speed: genlab's default against the textbook Gatys implementation, on the same backbone.

Reference: single scale at 400 px height, VGG up to relu5_1, style on relu1_1..relu5_1, content on conv4_2,
Gram / (C H W), content weight 1, style weight 0.5, TV 1e-3, initialised from the content, L-BFGS with
strong-Wolfe line search, 150 iterations (genlab's engine with levels=1, optimizer="lbfgs-wolfe", so both
use the same backbone, layout and [0,1] clamping). Both outputs are scored with the reference's objective
at full resolution. genlab's method (its default settings, run on until it reaches the reference's final
objective or 150 final-size iterations) is timed to the first iteration whose objective, evaluated at the
final size, is at or below the reference's; printed: both times and the ratio.
Also: a 512 px stylisation with the default settings (wall time), and peak memory of a 1024 px run.

    python benchmarks/style_transfer.py [--pairs N] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab.core.control import Control  # noqa: E402
from genlab.core.images import resize_long_side, to_tensor  # noqa: E402
from genlab.models.vgg import MODELS  # noqa: E402
from genlab.techniques.style_transfer import STYLE_LAYERS, Settings  # noqa: E402
from genlab.techniques.style_transfer.fast import fast_stylise  # noqa: E402
from genlab.techniques.style_transfer.gatys import Objective, optimise, style_grams, stylise  # noqa: E402

PAIRS = [
    ("chelsea", "hokusai_great_wave"),
    ("china", "van_gogh_village_street_auvers"),
    ("astronaut", "munch_the_scream"),
]


def load(pair):
    c = Image.open(ROOT / "examples/content" / f"{pair[0]}.jpg").convert("RGB")
    s = Image.open(ROOT / "examples/styles" / f"{pair[1]}.jpg").convert("RGB")
    c = c.resize((round(c.width * 400 / c.height), 400), Image.LANCZOS)  # 400 px height
    return c, s


def full_res_objective(net, content, style, image) -> float:
    """The reference objective of `image` at the content's full resolution."""
    s = Settings(size=max(content.size), levels=1)
    c = to_tensor(content)
    grams = style_grams(net, [to_tensor(resize_long_side(style, max(content.size)))], [1.0], set(STYLE_LAYERS))
    obj = Objective(net, c, grams, s)
    with torch.no_grad():
        return obj(to_tensor(image.resize(content.size, Image.LANCZOS)))[0].item()


class StopWhen(Control):
    """No deadline or budget; halts when `reached()` says so."""

    def __init__(self, reached):
        super().__init__(seconds=float("inf"), budget=float("inf"))
        self.reached = reached

    def halted(self) -> str:
        return "stop" if self.reached() else ""


def reference(net, content, style):
    """(final picture, history) of the textbook: single scale, strong-Wolfe L-BFGS, 150 iterations."""
    return optimise(
        net, content, [style], Settings(size=max(content.size), levels=1, steps=150, optimizer="lbfgs-wolfe")
    )


def time_to_reach(history, target) -> float | None:
    final_level = max(h["level"] for h in history)
    for h in history:
        if h["level"] == final_level and h["total"] <= target:
            return h["seconds"]
    return None


def peak_rss_child(size: int) -> float:
    """Peak RSS (GB) of a separate process running one default stylisation at `size` px."""
    code = (
        "import resource,sys; sys.path.insert(0, %r)\n"
        "from PIL import Image\nfrom genlab.models.vgg import MODELS\n"
        "from genlab.techniques.style_transfer import Settings\nfrom genlab.techniques.style_transfer.gatys import optimise\n"
        "net,_=MODELS.get('default')\n"
        "c=Image.open(%r).convert('RGB'); s=Image.open(%r).convert('RGB')\n"
        "optimise(net,c,[s],Settings(size=%d, steps=3, coarse_steps=3))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e6)"
    ) % (
        str(ROOT),
        str(ROOT / "examples/content/china.jpg"),
        str(ROOT / "examples/styles/hokusai_great_wave.jpg"),
        size,
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = p.parse_args()
    net, label = MODELS.get("default")
    print(f"backbone: {label}; torch threads: {torch.get_num_threads()}")
    d = Settings()
    print(f"genlab default: levels={d.levels} coarse_steps={d.coarse_steps} steps={d.steps} optimizer={d.optimizer}")
    content, style = (
        Image.open(ROOT / "examples/content/china.jpg").convert("RGB"),
        Image.open(ROOT / "examples/styles/hokusai_great_wave.jpg").convert("RGB"),
    )
    t0 = time.time()
    optimise(net, content, [style], replace(d, size=512))
    t512 = time.time() - t0
    print(f"512 px stylisation with default settings: {t512:.1f} s")
    fast_stylise(content, style, size=512)  # load the ONNX sessions
    fast = []
    for _ in range(5):
        t0 = time.perf_counter()
        fast_stylise(content, style, size=512)
        fast.append(time.perf_counter() - t0)
    print(f"fast mode at 512 px: median {sorted(fast)[2]:.2f} s over 5 runs")
    rss = peak_rss_child(1024)
    print(f"peak RSS of a 1024 px run (separate process): {rss:.2f} GB")
    results = []
    for pair in PAIRS[: args.pairs]:
        content, style = load(pair)
        g_image, g_history = optimise(net, content, [style], replace(d, size=max(content.size)))
        row = {
            "pair": pair,
            "size": content.size,
            "genlab_default_seconds": round(g_history[-1]["seconds"], 1),
            "genlab_default_objective": round(full_res_objective(net, content, style, g_image), 1),
        }
        out = ROOT / "benchmarks" / "out"
        out.mkdir(exist_ok=True)
        g_image.save(out / f"{pair[0]}-{pair[1]}-genlab.png")
        if not args.skip_reference:
            t0 = time.time()
            r_image, r_history = reference(net, content, style)
            r_seconds = time.time() - t0
            r_final = full_res_objective(net, content, style, r_image)
            r_image.save(out / f"{pair[0]}-{pair[1]}-reference.png")
            seen: dict = {"history": []}

            def reached(seen=seen, r_final=r_final):
                h = seen["history"]
                return bool(h) and h[-1]["level"] == d.levels and h[-1]["total"] <= r_final

            steps = stylise(net, content, [style], replace(d, size=max(content.size), steps=150), StopWhen(reached))
            while True:
                try:
                    seen["history"] = next(steps).data["history"]
                except StopIteration as end:
                    long_image, long_history = end.value
                    break
            reach = time_to_reach(long_history, r_final)
            row.update(
                reference_seconds=round(r_seconds, 1),
                reference_objective=round(r_final, 1),
                reference_in_loop_objective=round(r_history[-1]["total"], 1),
                reference_evaluations=r_history[-1].get("evals"),
                genlab_seconds_to_reference_objective=None if reach is None else round(reach, 1),
                genlab_iterations_to_reference_objective=long_history[-1]["step"],
                genlab_objective_then=round(full_res_objective(net, content, style, long_image), 1),
                speedup=None if reach is None else round(r_seconds / reach, 2),
            )
            long_image.save(out / f"{pair[0]}-{pair[1]}-genlab-at-reference-objective.png")
        print(json.dumps(row), flush=True)
        results.append(row)
    ratios = [r["speedup"] for r in results if r.get("speedup")]
    if ratios:
        print(
            f"speed-up to reach the reference objective: min {min(ratios):.2f}x, mean {sum(ratios) / len(ratios):.2f}x"
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"pairs": results, "seconds_512": round(t512, 1), "peak_rss_gb_1024": round(rss, 2)}, indent=2)
        )


if __name__ == "__main__":
    main()
