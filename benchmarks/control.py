"""Control, measured on held-out pictures (the colour dataset's test split: never trained on, and not the six the
trainer's sample grid shows):

* edge alignment: F1 (2 px tolerance, genlab.colour.control.edge_f1) of each output's Canny edges against the
  picture's Canny edges, with the ControlNet and without it (same prompt: the picture's first caption, same seed);
  with --cond hed the HED ControlNet reads the pictures' HED soft edges (the tab's soft-edges source) and the F1
  is against HED's thinned lines of them (genlab.colour.hed.contours), beside the Canny ControlNet on those lines
  at its default strength (the tab's contours source);
* prompt adherence: of the pictures whose caption names a colour, the share of outputs whose dominant hue is that
  colour (genlab.colour.evaluate.dominant_hue), with and without control;
* speed (--app): seconds per 4-image /control request through the running app (no comparison batch), beside
  /text_to_image with the same steps: until the answer and its files arrive as a page fetches them, and as
  gradio_client's default download takes them; each the median of 3 after one warm-up.

--choose picks the tab's default strength on 120 other test-split pictures (none of the 50) and writes it as
"strength_choice"; the tab's default (genlab.techniques.control.COLOUR_STRENGTH) must match it (a test checks).
Writes the figures into the ControlNet's card (weights/colour_controlnet.json, or colour_controlnet_hed.json with
--cond hed: "metrics", "speed") with --write.

    python benchmarks/control.py [--cond hed] --choose [--n-validation 120] [--tolerance 0.05] [--write]
    python benchmarks/control.py [--cond hed] [--n 50] [--steps 20] [--app] [--write]
    python benchmarks/control.py --photos examples/results/control-contours.jpg [--hed-strength S] [--write]
    python benchmarks/control.py --pictures   # the colour judge on the measured pictures themselves
    python benchmarks/control.py --colour-words [--write]   # colour words on the test pictures used nowhere else

--photos draws the contours of six photos (opencv-doc, scikit-image) with the HED ControlNet, with the Canny
ControlNet on HED's thinned lines, and without control, two seeds each, into one picture, and their edge F1
("photos" in the HED card).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pool(data: str):
    """(test-split pictures, records, indices usable for measuring: not the trainer's sample-grid pictures)."""
    from genlab.colour import data as colour_data
    from genlab.colour.train_control import N_SAMPLE_PICTURES

    imgs, recs = colour_data.load_split(data, "test")
    shown = set(np.linspace(0, len(imgs) - 1, N_SAMPLE_PICTURES).astype(int).tolist())
    return imgs, recs, [i for i in range(len(imgs)) if i not in shown]


def _drawn(pool: list[int], n: int, seed: int) -> list[int]:
    """n of the pool's indices, the same for the same seed, sorted."""
    return sorted(np.random.default_rng(seed).choice(pool, n, replace=False).tolist())


def held_out(data: str, n: int):
    """(pictures uint8 [n,128,128,3], records) from the test split, skipping the trainer's sample-grid pictures:
    the pictures the figures are measured on."""
    imgs, recs, pool = _pool(data)
    pick = _drawn(pool, n, seed=0)
    return imgs[pick], [recs[i] for i in pick]


def validation(data: str, n: int, measured: int):
    """(pictures, records) for choosing settings: n other test-split pictures, none of held_out's `measured`."""
    imgs, recs, pool = _pool(data)
    taken = set(_drawn(pool, measured, seed=0))  # held_out's pictures
    pick = _drawn([i for i in pool if i not in taken], n, seed=1)
    return imgs[pick], [recs[i] for i in pick]


def _control_kwargs(arm, cond: str, read, lines) -> dict:
    """The pipeline's control arguments for an arm: None, without control; a strength, the `cond` ControlNet on
    its read maps `read`; ("canny", strength), the Canny ControlNet on the lines [B,128,128] uint8."""
    from genlab.colour import control
    from genlab.techniques.control.engine import CONTROLNETS

    if arm is None:
        return {}
    if isinstance(arm, tuple):
        return dict(
            controlnet=CONTROLNETS.get("canny")[0],
            image=control.to_control(lines),
            controlnet_conditioning_scale=arm[1],
        )
    return dict(controlnet=CONTROLNETS.get(cond)[0], image=read, controlnet_conditioning_scale=arm)


def _draw(pics, recs, arms: list, steps: int, cond: str, batch: int = 10, seed: int = 0, keep: bool = False) -> dict:
    """{arm: figures} of the colour model on these pictures' captions at the tab's guidance, picture k from
    seed + k; an arm is a strength of the `cond` ControlNet, None (without control), or ("canny", strength): the
    Canny ControlNet on the edges the F1 is against."""
    import torch

    from genlab.colour import control
    from genlab.colour.evaluate import dominant_hue
    from genlab.core.devices import cpu_generator
    from genlab.models import diffusion
    from genlab.techniques.control import Settings

    read, edges = control.maps(pics, cond)
    n = len(pics)
    prompts = [r["captions"][0] for r in recs]
    base, _ = diffusion.MODELS.get(diffusion.COLOUR_MODEL)
    res, t0 = {}, time.perf_counter()
    for arm in arms:
        ims = []
        for i in range(0, n, batch):
            sl = slice(i, i + batch)
            pipe, _ = diffusion.request_copy(base, "DPM-Solver++")
            extra = _control_kwargs(arm, cond, read[sl], edges[sl])
            with torch.inference_mode():
                x = pipe(
                    prompts[sl],
                    num_inference_steps=steps,
                    guidance_scale=Settings().guidance,
                    generator=[cpu_generator(seed + k) for k in range(i, min(i + batch, n))],
                    output_type="pt",
                    **extra,
                ).images  # [B,3,128,128] in [0,1]
            ims += list((x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
        f1 = [control.edge_f1(control.canny(im), e) for im, e in zip(ims, edges)]
        hue = [dominant_hue(im) == r["colour"] for im, r in zip(ims, recs) if r.get("colour")]
        res[arm] = {
            "edge_f1_mean": round(statistics.mean(f1), 3),
            "edge_f1_median": round(statistics.median(f1), 3),
            "colour_word_obeyed": round(statistics.mean(hue), 3) if hue else None,
            "coloured_prompts": len(hue),
            **({"obeyed": hue} if keep else {}),  # per coloured picture, for paired comparisons
        }
        print(f"  {arm}: {dict(list(res[arm].items())[:4])} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return res


def quality(n: int, steps: int, data: str, cond: str) -> dict:
    """The figures on the n held-out pictures at the tab's default strength, with control and without (and, for
    hed, the Canny ControlNet on HED's lines)."""
    from genlab.models.diffusion import COLOUR_MODEL
    from genlab.techniques.control import COLOUR_STRENGTH, default_strength
    from genlab.techniques.control.engine import CONTROLNETS

    strength = default_strength(COLOUR_MODEL, "soft edges" if cond == "hed" else "lines")
    arms = [strength, None, *([("canny", COLOUR_STRENGTH)] if cond == "hed" else [])]
    got = _draw(*held_out(data, n), arms, steps, cond)
    res = {"with_control": got[strength], "without_control": got[None], "strength": strength, "pictures": n}
    if cond == "hed":
        res["canny_controlnet_on_the_lines"] = {**got[arms[2]], "strength": COLOUR_STRENGTH}
    res["ratio_f1"] = round(res["with_control"]["edge_f1_mean"] / max(res["without_control"]["edge_f1_mean"], 1e-6), 2)
    res["steps"] = steps
    res["weights"] = CONTROLNETS.get(cond)[1]
    res["command"] = " ".join(["python benchmarks/control.py", *sys.argv[1:]])
    return res


def pictures_judged(n: int, n_validation: int, data: str) -> dict:
    """The colour judge on the held-out and validation pictures themselves: the share whose dominant hue is their
    caption's colour (the most a control that copies their layout could be expected to reach)."""
    from genlab.colour.evaluate import dominant_hue

    res = {}
    for name, (pics, recs) in [("held_out", held_out(data, n)), ("validation", validation(data, n_validation, n))]:
        hue = [dominant_hue(p) == r["colour"] for p, r in zip(pics, recs) if r.get("colour")]
        res[name] = {"colour_word_obeyed": round(statistics.mean(hue), 3), "coloured_prompts": len(hue)}
    return res


def others(data: str, measured: int, n_validation: int):
    """(pictures, records): the test-split pictures naming a colour that are neither held_out's nor validation's."""
    imgs, recs, pool = _pool(data)
    taken = set(_drawn(pool, measured, seed=0))
    taken |= set(_drawn([i for i in pool if i not in taken], n_validation, seed=1))
    pick = [i for i in pool if i not in taken and recs[i].get("colour")]
    return imgs[pick], [recs[i] for i in pick]


def _sign_test(lost: int, gained: int) -> float:
    """Two-sided exact p of McNemar's test: of the pictures where the arms disagree, this many obeyed only
    without control (lost) and only with it (gained); p = 1 means no evidence of a difference."""
    from math import comb

    n, k = lost + gained, min(lost, gained)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def colour_words(steps: int, data: str, measured: int, n_validation: int) -> dict:
    """Colour words on the test-split pictures used in no choice and no other figure (others()): the tab's three
    ControlNet paths at their default strengths against no control, same prompt and seed per picture, with the
    paired counts and McNemar's exact p."""
    from genlab.techniques.control import COLOUR_STRENGTH, HED_STRENGTH

    pics, recs = others(data, measured, n_validation)
    canny = _draw(pics, recs, [None, COLOUR_STRENGTH], steps, "canny", seed=2000, keep=True)
    hed = _draw(pics, recs, [HED_STRENGTH, ("canny", COLOUR_STRENGTH)], steps, "hed", seed=2000, keep=True)
    off = canny[None]["obeyed"]
    arms = {
        "edges (Canny ControlNet on Canny edges)": canny[COLOUR_STRENGTH],
        "contours (Canny ControlNet on HED's lines)": hed[("canny", COLOUR_STRENGTH)],
        "soft edges (HED ControlNet)": hed[HED_STRENGTH],
    }
    res = {"without_control": round(statistics.mean(off), 3), "coloured_pictures": len(off)}
    for name, got in arms.items():
        lost = sum(o and not c for o, c in zip(off, got["obeyed"]))
        gained = sum(c and not o for o, c in zip(off, got["obeyed"]))
        res[name] = {
            "colour_word_obeyed": got["colour_word_obeyed"],
            "edge_f1_mean": got["edge_f1_mean"],
            "obeyed_only_without": lost,
            "obeyed_only_with": gained,
            "mcnemar_p": round(_sign_test(lost, gained), 3),
        }
    res["strengths"] = {"canny": COLOUR_STRENGTH, "hed": HED_STRENGTH}
    res["steps"] = steps
    res["command"] = " ".join(["python benchmarks/control.py", *sys.argv[1:]])
    return res


CHOICES = (1.0, 1.5, 2.0, 2.5, 3.0)  # the ControlNet strengths --choose tries


def choose_strength(n: int, measured: int, steps: int, data: str, tolerance: float, cond: str) -> dict:
    """The tab's default strength, chosen on n validation pictures (none of the measured ones): the highest edge
    F1 among the strengths whose colour-word share is at most `tolerance` below the uncontrolled one's (1.0, the
    trained scale, when none is)."""
    got = _draw(*validation(data, n, measured), [None, *CHOICES], steps, cond, seed=1000)
    floor = got[None]["colour_word_obeyed"] - tolerance
    ok = [s for s in CHOICES if got[s]["colour_word_obeyed"] >= floor - 1e-9]
    chosen = max(ok, key=lambda s: got[s]["edge_f1_mean"]) if ok else 1.0
    return {
        "chosen": chosen,
        "rule": f"highest mean edge F1 among strengths whose colour-word share is at most {tolerance:.0%} below "
        "the uncontrolled one's (else 1.0)",
        "validation_pictures": n,
        "figures": {("without" if s is None else str(s)): f for s, f in got.items()},
        "steps": steps,
        "command": " ".join(["python benchmarks/control.py", *sys.argv[1:]]),
    }


OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTOS = [  # (photo, prompt): opencv-doc's sample photos (Debian opencv-doc) and scikit-image's coffee, cat
    (OPENCV / "apple.jpg", "a red apple"),
    (OPENCV / "orange.jpg", "an orange"),
    (OPENCV / "butterfly.jpg", "a butterfly"),
    (OPENCV / "baboon.jpg", "a monkey"),
    (ROOT / "examples" / "content" / "coffee.jpg", "a cup of coffee"),
    (ROOT / "examples" / "content" / "chelsea.jpg", "a cat"),
]


def photos(out: str, steps: int, seeds: int = 2, strength: float | None = None) -> dict:
    """The contours of PHOTOS with the HED ControlNet (its default strength), the Canny ControlNet on HED's lines
    (its default) and without control, `seeds` seeds each: one picture (rows: photos; columns: the photo, HED's
    soft edges, the lines, then each arm's seeds) and the mean edge F1 against the lines per arm."""
    import torch
    from PIL import Image

    from genlab.colour import control, hed
    from genlab.core.devices import cpu_generator
    from genlab.core.images import open_image
    from genlab.models import diffusion
    from genlab.techniques.control import COLOUR_STRENGTH, HED_STRENGTH, Settings
    from genlab.techniques.control.engine import square

    strength = HED_STRENGTH if strength is None else strength

    base, _ = diffusion.MODELS.get(diffusion.COLOUR_MODEL)
    rows, f1 = [], {"hed_controlnet": [], "canny_controlnet_on_the_lines": [], "without_control": []}
    for path, prompt in PHOTOS:
        sq = np.asarray(square(open_image(path), 128))
        soft, lines = hed.contours(sq)
        arms = {
            "hed_controlnet": strength,
            "canny_controlnet_on_the_lines": ("canny", COLOUR_STRENGTH),
            "without_control": None,
        }
        row = [
            sq,
            np.repeat((soft * 255).round().astype(np.uint8)[..., None], 3, -1),
            np.repeat(lines[..., None], 3, -1),
        ]
        for name, arm in arms.items():
            extra = _control_kwargs(arm, "hed", torch.from_numpy(soft)[None, None], lines[None])
            pipe, _ = diffusion.request_copy(base, "DPM-Solver++")
            with torch.inference_mode():
                x = pipe(
                    prompt,
                    num_images_per_prompt=seeds,
                    num_inference_steps=steps,
                    guidance_scale=Settings().guidance,
                    generator=[cpu_generator(k) for k in range(seeds)],
                    output_type="pt",
                    **extra,
                ).images
            ims = list((x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
            f1[name] += [control.edge_f1(control.canny(im), lines) for im in ims]
            row += ims
        rows.append(np.concatenate(row, 1))
        print(f"  {path.name}: " + ", ".join(f"{k} {np.mean(v[-seeds:]):.2f}" for k, v in f1.items()), flush=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out, quality=88)
    return {
        "photos": [f"{p.name}: {q}" for p, q in PHOTOS],
        "seeds": seeds,
        "steps": steps,
        "edge_f1_mean": {k: round(float(np.mean(v)), 3) for k, v in f1.items()},
        "strengths": {"hed_controlnet": strength, "canny_controlnet_on_the_lines": COLOUR_STRENGTH},
        "picture": str(Path(out)),
        "command": " ".join(["python benchmarks/control.py", *sys.argv[1:]]),
    }


def app_speed(steps: int, cond: str = "canny") -> dict:
    """Seconds per 4-image /control and /text_to_image request through the running app: as a page waits (the
    answer, then its files over one connection) and as gradio_client's default waits (files downloaded one by
    one, new connection each); each the median of 3 after one warm-up. /control draws the apple drawing's lines
    (canny) or the coffee photo's soft edges and contours (hed: the HED ControlNet on HED's soft edges, and the
    Canny ControlNet on HED's lines: control_contours_*)."""
    import httpx
    from common import page_call, start_app, warm_times
    from gradio_client import Client, handle_file

    proc, url, _ = start_app()
    try:
        client, bare = Client(url, verbose=False), Client(url, verbose=False, download_files=False)
        picture, prompt, sources = (
            (ROOT / "examples" / "control" / "apple-lines.png", "a red apple", {"control": "lines"})
            if cond == "canny"
            else (
                ROOT / "examples" / "content" / "coffee.jpg",
                "a cup of coffee",
                {"control": "soft edges", "control_contours": "contours"},
            )
        )
        lines = handle_file(str(picture))
        sketch = {"background": lines, "layers": [], "composite": lines}
        colour = "genlab colour latent diffusion (offline)"
        calls = {  # figure name: (endpoint, its arguments)
            name: ("control", dict(sketch=sketch, prompt=prompt, source=source, steps=steps, batch=4, compare=False))
            for name, source in sources.items()
        }
        calls["text_to_image"] = ("text_to_image", dict(prompt="a red apple", model=colour, steps=steps, batch=4))
        figures = {}
        with httpx.Client() as fetch:
            for name, (endpoint, kw) in calls.items():
                kw = {**kw, "api_name": f"/{endpoint}"}
                for key, call in [
                    (f"{name}_4_images_s", partial(page_call, bare, fetch, **kw)),
                    (f"{name}_4_images_gradio_client_s", partial(client.predict, **kw)),
                ]:
                    times = warm_times(call)
                    figures[key] = round(statistics.median(times), 2)
                    print(f"  {key}: {[round(t, 2) for t in times]}", flush=True)
        figures["steps"] = steps
        figures["how"] = (
            "gradio_client against python app.py, median of 3 after a warm-up: until the answer and its files "
            "are fetched over one connection, as a page waits (gradio_client's default download, one new "
            "connection per file, in the _gradio_client_s figures)"
        )
        return figures
    finally:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cond", choices=("canny", "hed"), default="canny", help="which ControlNet: Canny or HED")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--data", default="~/.cache/genlab/colour128")
    ap.add_argument("--app", action="store_true", help="also time requests through the running app")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--write", action="store_true", help="write the figures into the ControlNet's card")
    ap.add_argument("--choose", action="store_true", help="choose the default strength on validation pictures")
    ap.add_argument("--n-validation", type=int, default=120)
    ap.add_argument("--photos", default=None, help="draw the contours of photos into this picture (HED card)")
    ap.add_argument("--hed-strength", type=float, default=None, help="--photos: the HED ControlNet's strength")
    ap.add_argument("--colour-words", action="store_true", help="colour words on the test pictures used nowhere else")
    ap.add_argument("--pictures", action="store_true", help="the colour judge on the pictures themselves")
    ap.add_argument("--tolerance", type=float, default=0.05, help="--choose: colour words may drop this much")
    a = ap.parse_args()
    from genlab.colour.control import SHIPPED_NAMES

    card_path = ROOT / "weights" / f"{SHIPPED_NAMES[a.cond]}.json"
    if a.photos:
        card_path = ROOT / "weights" / f"{SHIPPED_NAMES['hed']}.json"
    card = json.loads(card_path.read_text())
    if a.colour_words:  # written into the Canny ControlNet's card (it serves three of the four sources)
        card_path = ROOT / "weights" / f"{SHIPPED_NAMES['canny']}.json"
        card = json.loads(card_path.read_text())
        card["colour_words_fresh"] = colour_words(a.steps, a.data, a.n, a.n_validation)
        print(json.dumps(card["colour_words_fresh"], indent=2))
        if a.write:
            card_path.write_text(json.dumps(card, indent=2))
        return
    if a.pictures:
        print(json.dumps(pictures_judged(a.n, a.n_validation, a.data), indent=2))
        return
    if a.photos:
        card["photos"] = photos(a.photos, a.steps, strength=a.hed_strength)
        print(json.dumps(card["photos"], indent=2))
        if a.write:
            card_path.write_text(json.dumps(card, indent=2))
        return
    if a.choose:
        earlier = card.get("strength_choice")
        card["strength_choice"] = choose_strength(a.n_validation, a.n, a.steps, a.data, a.tolerance, a.cond)
        if earlier:  # the runs before this one stay in the card
            card["strength_choice"]["earlier_runs"] = [*earlier.pop("earlier_runs", []), earlier]
        print(json.dumps(card["strength_choice"], indent=2))
        if a.write:
            card_path.write_text(json.dumps(card, indent=2))
        return
    if not a.no_quality:
        card["metrics"] = quality(a.n, a.steps, a.data, a.cond)
        print(json.dumps(card["metrics"], indent=2))
    if a.app:
        card["speed"] = app_speed(a.steps, a.cond)
        print(json.dumps(card["speed"], indent=2))
    if a.write:
        card_path.write_text(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
