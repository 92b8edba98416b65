"""BF16 autocast against float32 for genlab's colour model and its ControlNet (genlab.core.devices.autocast).

In process, with each precision on the same seeds (DPM-Solver++, 20 steps, the default guidance):

* speed: seconds per 4-image call of the pipeline (median over the prompts, after one warm-up);
* colour words: on benchmarks/fresh_colour_prompts.txt (written before measuring, used in no choice), 4 seeds
  per prompt, the share of pictures whose dominant hue (genlab.colour.evaluate.dominant_hue) is the prompt's
  colour word;
* difference: mean |bf16 - fp32| in 8-bit levels and PSNR per picture, and how often the judged hue agrees;
* Control: edge F1 (genlab.colour.control.edge_f1) of the outputs for the three example line drawings.

--vgg times one forward + backward pass of the style/Deep Dream VGG16 (400 px, the Gatys layers) each way, with the
loss's relative difference and the gradients' cosine similarity (measured only: the techniques do not use bf16).

--styles measures the VGG tabs on their own figures instead, each way with the tab's default settings: style
transfer's output scored by the reference objective (benchmarks/style_transfer.py, computed in float32), Deep
Dream's rise of the layer's mean activation (measured in float32), and the wall seconds. The tolerance for adopting
bf16 there, set before measuring: the objective at most 2 % above float32's, the rise within 5 % of float32's.

--app also times 4-image /text_to_image and /control requests through the running app (gradio_client, median of
3 after one warm-up), started once with GENLAB_PRECISION=fp32 and once as users start it.

The tolerance for adopting bf16 (the default where the CPU has BF16 instructions): colour words and Control F1
within 2 points of float32, and a mean difference under 2 levels. --write puts the figures in
docs/precision.json.

    python benchmarks/precision.py [--app] [--vgg] [--styles] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
PROMPTS = ROOT / "benchmarks" / "fresh_colour_prompts.txt"
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
SEEDS = 4


def fresh_prompts() -> list[tuple[str, str]]:
    """(prompt, its colour word) for every line of fresh_colour_prompts.txt."""
    out = []
    for line in PROMPTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            words = re.findall(r"[a-z]+", line.lower())
            out.append((line.strip(), next(w for w in words if w in COLOURS)))
    return out


def colour_run(precision: str) -> dict:
    import torch

    from genlab.colour import control
    from genlab.colour.evaluate import dominant_hue
    from genlab.core.devices import cpu_bf16, cpu_generator
    from genlab.models import diffusion
    from genlab.techniques.control import Settings as ControlSettings
    from genlab.techniques.control.engine import CONTROLNETS, edge_map

    os.environ["GENLAB_PRECISION"] = precision
    assert cpu_bf16() == (precision == "bf16")
    base, _ = diffusion.MODELS.get(diffusion.COLOUR_MODEL)

    def call(prompt, **extra):
        pipe, _ = diffusion.request_copy(base, "DPM-Solver++")
        with torch.inference_mode():
            t = time.perf_counter()
            x = pipe(
                prompt,
                num_images_per_prompt=SEEDS,
                num_inference_steps=20,
                guidance_scale=5.0,  # the app's default
                generator=[cpu_generator(k) for k in range(SEEDS)],
                output_type="pt",
                **extra,
            ).images
            dt = time.perf_counter() - t
        return (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8), dt

    call("a red apple")  # warm-up
    pics, times, obeyed = [], [], []
    for prompt, colour in fresh_prompts():
        x, dt = call(prompt)
        pics.append(x)
        times.append(dt)
        obeyed += [dominant_hue(im) == colour for im in x]
    net, _ = CONTROLNETS.get("canny")
    f1, ctimes = [], []
    for path in sorted((ROOT / "examples" / "control").glob("*-lines.png")):
        lines, _, _ = edge_map(ControlSettings(), {"sketch": str(path)})  # uint8 [128,128], 255 = line
        name = path.stem.removesuffix("-lines")
        x, dt = call(f"a {name}", controlnet=net, image=control.to_control(lines[None]))
        ctimes.append(dt)
        f1 += [control.edge_f1(control.canny(im), lines) for im in x]
    return {
        "pictures": np.concatenate(pics),
        "colour_words_obeyed": round(float(np.mean(obeyed)), 3),
        "seconds_per_4_images": round(statistics.median(times), 2),
        "control_edge_f1": round(float(np.mean(f1)), 3),
        "control_seconds_per_4_images": round(statistics.median(ctimes), 2),
    }


def app_speed(precision: str) -> dict:
    """control.py's timing of 4-image /control and /text_to_image requests, the app started at this precision."""
    from control import app_speed as timed

    os.environ.pop("GENLAB_PRECISION", None)
    if precision == "fp32":
        os.environ["GENLAB_PRECISION"] = "fp32"
    figures = timed(20)
    return {k: v for k, v in figures.items() if k.endswith("_s")}


GATYS_LAYERS = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "conv4_2"}


def vgg_pass() -> dict:
    """The style tabs' VGG16 on a 400x400 picture: seconds per forward + backward, fp32 against bf16 autocast."""
    import torch

    from genlab.models.vgg import load_vgg

    net, _ = load_vgg()
    net.eval().requires_grad_(False)
    x0 = torch.rand(1, 3, 400, 400, generator=torch.Generator().manual_seed(0))

    def one(bf16: bool):
        x = x0.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = sum((f.float() ** 2).mean() for f in net(x, GATYS_LAYERS).values())
        loss.backward()
        return loss.item(), x.grad.flatten()

    out = {}
    for bf16 in (False, True):
        one(bf16)
        t = time.perf_counter()
        for _ in range(3):
            loss, grad = one(bf16)
        out["bf16" if bf16 else "fp32"] = {"seconds_per_pass": round((time.perf_counter() - t) / 3, 3), "loss": loss}
        out["grad_" + ("bf16" if bf16 else "fp32")] = grad
    gf, gb = out.pop("grad_fp32"), out.pop("grad_bf16")
    out["loss_relative_difference"] = round(abs(out["fp32"]["loss"] - out["bf16"]["loss"]) / out["fp32"]["loss"], 6)
    out["gradient_cosine"] = round(float(torch.nn.functional.cosine_similarity(gf, gb, dim=0)), 5)
    return out


def style_quality() -> dict:
    """Gatys style transfer with the tab's default settings on style_transfer.py's pairs (400 px high), float32
    against bf16: wall seconds, and each output scored by the reference objective computed in float32."""
    from dataclasses import replace

    from style_transfer import PAIRS, full_res_objective, load

    from genlab.models.vgg import MODELS
    from genlab.techniques.style_transfer import Settings
    from genlab.techniques.style_transfer.gatys import optimise

    net, _ = MODELS.get("default")

    def stylised(content, style):
        return optimise(net, content, [style], replace(Settings(), size=max(content.size)))[0]

    rows = []
    for pair in PAIRS:
        content, style = load(pair)
        row, pictures = _each_way(stylised, content, style)
        for precision, im in pictures.items():
            row[f"{precision}_objective"] = round(full_res_objective(net, content, style, im), 2)
        row["objective_relative_change"] = round(row["bf16_objective"] / row["fp32_objective"] - 1, 4)
        rows.append({"pair": "/".join(pair), **row})
        print(f"  style {rows[-1]}", flush=True)
    return _summary(rows, "objective_relative_change", "settings: the tab's defaults at the content's size")


def dream_quality() -> dict:
    """Deep Dream with the tab's default settings on deep_dream.py's photos, float32 against bf16: wall seconds,
    and the rise of the layer's mean activation (before and after measured in float32)."""
    from deep_dream import PHOTOS

    from genlab.core.control import Control, drain
    from genlab.core.images import to_tensor
    from genlab.models.vgg import MODELS
    from genlab.techniques.deep_dream import Settings
    from genlab.techniques.deep_dream.engine import _start, mean_activation, run

    net, _ = MODELS.get("default")
    s = Settings()

    def dreamed(inputs):
        return drain(run(s, inputs, Control(seconds=float("inf"), budget=float("inf")))).images[0]

    rows = []
    for name in PHOTOS:
        inputs = {"image": str(ROOT / "examples" / "content" / name)}
        row, pictures = _each_way(dreamed, inputs)
        row["before"] = mean_activation(net, to_tensor(_start(s, inputs)), s.layer, s.channel)
        for precision, im in pictures.items():
            row[f"{precision}_rise"] = round(mean_activation(net, to_tensor(im), s.layer, s.channel) / row["before"], 3)
        row["rise_relative_change"] = round(row["bf16_rise"] / row["fp32_rise"] - 1, 4)
        rows.append({"photo": name, **row})
        print(f"  dream {rows[-1]}", flush=True)
    return _summary(rows, "rise_relative_change", f"settings: the tab's defaults ({s.size} px, {s.octaves} octaves)")


def _each_way(make, *args) -> tuple[dict, dict]:
    """make(*args) -> a picture, in float32 then under bf16: ({fp32,bf16}_seconds and their pictures' mean difference
    in levels, {precision: picture}). GENLAB_PRECISION is left at fp32 for the judge that follows."""
    row, pictures = {}, {}
    for precision in ("fp32", "bf16"):
        os.environ["GENLAB_PRECISION"] = precision
        t = time.perf_counter()
        pictures[precision] = make(*args)
        row[f"{precision}_seconds"] = round(time.perf_counter() - t, 1)
    os.environ["GENLAB_PRECISION"] = "fp32"  # the judge
    f, b = (np.asarray(pictures[p].convert("RGB"), dtype=np.float32) for p in ("fp32", "bf16"))
    row["mean_abs_difference_levels"] = round(float(np.abs(f - b).mean()), 2)
    return row, pictures


def _summary(rows: list[dict], change: str, how: str) -> dict:
    fp32, bf16 = (sum(r[f"{p}_seconds"] for r in rows) for p in ("fp32", "bf16"))
    return {
        "rows": rows,
        "fp32_seconds_total": round(fp32, 1),
        "bf16_seconds_total": round(bf16, 1),
        "speedup": round(fp32 / bf16, 2),
        f"{change}_range": [min(r[change] for r in rows), max(r[change] for r in rows)],
        "how": how,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", action="store_true", help="also time requests through the running app")
    ap.add_argument("--vgg", action="store_true", help="also time the style tabs' VGG16 each way")
    ap.add_argument("--styles", action="store_true", help="only style transfer's and Deep Dream's own figures")
    ap.add_argument("--write", action="store_true", help="write the figures to docs/precision.json")
    a = ap.parse_args()
    from genlab.core.devices import _cpu_has_bf16

    if a.styles:  # a section of its own in docs/precision.json; the rest of the file is kept
        res = {"style_transfer": style_quality(), "deep_dream": dream_quality()}
        res["command"] = " ".join(["python benchmarks/precision.py", *sys.argv[1:]])
        print(json.dumps(res, indent=2))
        if a.write:
            out = ROOT / "docs" / "precision.json"
            out.write_text(json.dumps({**json.loads(out.read_text()), "styles": res}, indent=2) + "\n")
        return

    runs = {p: colour_run(p) for p in ("fp32", "bf16")}
    f, b = runs["fp32"].pop("pictures").astype(np.float32), runs["bf16"].pop("pictures").astype(np.float32)
    diff = np.abs(f - b).mean(axis=(1, 2, 3))
    mse = ((f - b) ** 2).mean(axis=(1, 2, 3))
    psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-10))
    from genlab.colour.evaluate import dominant_hue

    agree = np.mean([dominant_hue(x.astype(np.uint8)) == dominant_hue(y.astype(np.uint8)) for x, y in zip(f, b)])
    res = {
        "cpu_has_bf16": _cpu_has_bf16(),
        "prompts": str(PROMPTS.relative_to(ROOT)),
        "pictures": len(f),
        **{p: r for p, r in runs.items()},
        "mean_abs_difference_levels": round(float(diff.mean()), 2),
        "worst_picture_mean_abs_difference_levels": round(float(diff.max()), 2),
        "psnr_db_median": round(float(np.median(psnr)), 1),
        "judged_hue_agrees": round(float(agree), 3),
    }
    if a.vgg:
        res["vgg16_400px"] = vgg_pass()
    if a.app:
        res["app"] = {p: app_speed(p) for p in ("fp32", "bf16")}
        res["app"]["how"] = "gradio_client against python app.py (bf16: as users start it), median of 3 after a warm-up"
    res["command"] = " ".join(["python benchmarks/precision.py", *sys.argv[1:]])
    print(json.dumps(res, indent=2))
    if a.write:
        (ROOT / "docs" / "precision.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
