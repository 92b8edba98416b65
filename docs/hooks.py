"""MkDocs hook: figure tables rendered from the model cards, so no figure is typed twice.

A page writes `<!-- figures: NAME -->` on a line of its own; `on_page_markdown` replaces it with the table NAME
builds from `weights/*.json` (the cards the training and evaluation commands write). An unknown NAME or a card
missing a field fails the build (the tests run `mkdocs build --strict`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- figures: ([a-z0-9-]+) -->$", re.M)


def card(name: str) -> dict:
    return json.loads((ROOT / "weights" / f"{name}.json").read_text())


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fashion_metrics() -> str:
    """weights/metrics.json (python -m genlab.evaluate): FID/KID on the classifier's features, class coverage."""
    m = card("metrics")
    rows = [
        [r["model"], f"{r['n']:,}", f"{r['fid']:.2f}", f"{r['kid']:.4f}", pct(r["min_class_share"]),
         pct(r["judged_as_requested"])]
        for r in m["rows"]
    ]  # fmt: skip
    head = ["images", "n", "FID (classifier features) ↓", "KID ↓", "smallest class share", "judged as requested"]
    note = f"\n\n*From `weights/metrics.json` ({m['command']}); classifier test accuracy {pct(m['classifier_test_accuracy'])}.*"
    return table(head, rows) + note


def colour_ldm() -> str:
    """weights/colour_ldm.json (python -m genlab.colour.evaluate) and its VAE's card, against the issue's goals."""
    c, v = card("colour_ldm"), card("colour_vae")
    m, s, judges = c["metrics"], c["speed"], c["metrics"]["judges"]
    vgg, cnn = judges["vgg"], judges["cnn"]
    rows = [
        ["held-out paraphrase prompts judged as the requested group — headline judge (a head on frozen ImageNet "
         f"VGG16 features, {pct(vgg['card']['test_accuracy'])} right on the real test pictures, chance "
         f"{pct(vgg['card']['chance'])})", f"**{pct(m['judged_as_requested'])}**", "≥ 70 % (blocked, see below)"],
        [f"the same samples, small CNN judge ({pct(cnn['card']['test_accuracy'])} right on the real test pictures)",
         pct(cnn["judged_as_requested"]), "—"],
        ["colour words obeyed (the dominant hue of the non-white pixels is the named one)",
         f"**{pct(m['colour_obeyed'])}**", "≥ 80 %"],
        ["headline judge: real held-out pictures · through the VAE · samples of their own captions · of the "
         "paraphrases", f"{pct(m['ceiling_real_pictures'])} · {pct(m['ceiling_through_vae'])} · "
         f"{pct(m['judged_own_captions'])} · {pct(m['judged_as_requested'])}", "—"],
        ["the same real pictures at 64 px, headline judge", pct(m["ceiling_at_64px"]), "—"],
        ["FID (small CNN's features): samples · training pictures (floor) · VAE reconstructions",
         f"{m['fid']['samples_heldout_prompts']:.1f} · {m['fid']['floor_train_images']:.1f} · "
         f"{m['fid']['vae_reconstructions']:.1f}", "—"],
        [f"VAE reconstruction of {v['metrics']['n']} held-out pictures at {v['metrics']['eval_resolution']} px",
         f"PSNR **{v['metrics']['psnr']:.2f} dB** (median {v['metrics']['psnr_median']:.2f}), SSIM "
         f"{v['metrics']['ssim']:.3f}", "≥ 25 dB"],
        [f"4 · 8 · 16 images, {s['steps']} {s['scheduler']} steps, in the process",
         f"**{s['4_images_s']:.2f} s** · {s['8_images_s']:.2f} s · {s['16_images_s']:.2f} s", "≤ 3 s for 4"],
    ]  # fmt: skip
    return table(["", "measured", "goal"], rows) + f"\n\n*From `weights/colour_ldm.json` ({m['command']}).*"


def colour_sources() -> str:
    """The colour dataset's sources and licences, from the colour model's card."""
    src = card("colour_ldm")["data"]["sources"]
    rows = [[k, v["package"], f"{v['images']:,}", v["licence"], v["attribution"]] for k, v in src.items()]
    return table(["source", "package", "pictures", "licence", "attribution (keep it)"], rows)


def cards() -> str:
    """Every trained weight file's card: data, command, steps, seed, wall time and its headline figure."""
    rows = []
    for name in ("classifier", "dcgan", "vae", "vae2d", "text2image"):
        c = card(name)
        metric = {
            "classifier": lambda c: f"test accuracy {pct(c['metrics']['test_accuracy'])}",
            "vae": lambda c: f"test −ELBO {c['metrics']['test_neg_elbo_nats']} nats",
            "vae2d": lambda c: f"test −ELBO {c['metrics']['test_neg_elbo_nats']} nats",
            "dcgan": lambda c: "FID in measurements",
            "text2image": lambda c: "FID and judged share in measurements",
        }[name](c)
        rows.append([f"`weights/{name}.json`", c["data"], f"`{c['command']}`", f"{c['steps']:,}", c["seed"],
                     f"{c['wall_seconds'] / 3600:.2f} h", metric])  # fmt: skip
    for name in ("colour_vae", "colour_ldm"):
        c = card(name)
        t = c["training"]
        rows.append([f"`weights/{name}.json`", "the colour dataset (below)", f"`{t['command']}`", f"{t['steps']:,}",
                     t["seed"], f"{t['wall_hours']:.2f} h",
                     f"PSNR {c['metrics']['psnr']:.2f} dB" if name == "colour_vae"
                     else f"judged {pct(c['metrics']['judged_as_requested'])}"])  # fmt: skip
    for name, maps in [("colour_controlnet", "Canny edges"), ("colour_controlnet_hed", "HED soft edges")]:
        c = card(name)
        t, m = c["training"], c["metrics"]
        hours = t["wall_hours"] + sum(r["wall_hours"] for r in t.get("earlier_runs", []))
        commands = " then ".join(f"`{r['command']}`" for r in [*t.get("earlier_runs", []), t])
        rows.append([f"`weights/{name}.json`", f"the colour dataset (below), {maps}", commands,
                     f"{t.get('total_steps', t['steps']):,}", t["seed"], f"{hours:.2f} h",
                     f"edge F1 {m['with_control']['edge_f1_mean']} (without {m['without_control']['edge_f1_mean']})"])  # fmt: skip
    for name in ("colour_classifier", "colour_judge_vgg"):
        c = card(name)
        rows.append([f"`weights/{name}.json`", c["data"], f"`{c['command']}`", f"{c['epochs']} epochs", c["seed"],
                     f"{c['seconds'] / 3600:.2f} h", f"test accuracy {pct(c['test_accuracy'])}"])  # fmt: skip
    return table(["card", "data", "command", "steps", "seed", "wall time", "headline figure"], rows)


def control(name: str = "colour_controlnet") -> str:
    """weights/<name>.json (python benchmarks/control.py [--cond hed] --app --write) against the issue's goals;
    the HED ControlNet's card (soft edges) also has the Canny ControlNet on HED's lines (the contours source)."""
    c = card(name)
    m, sp = c["metrics"], c.get("speed", {})
    on, off = m["with_control"], m["without_control"]
    canny = m.get("canny_controlnet_on_the_lines")
    extra = [canny["edge_f1_mean"]] if canny else []
    rows = [
        ["edge F1 (mean, 2 px)", on["edge_f1_mean"], off["edge_f1_mean"], *extra, "≥ 0.5 and ≥ 2× without"],
        [
            "edge F1 (median)",
            on["edge_f1_median"],
            off["edge_f1_median"],
            *([canny["edge_f1_median"]] if canny else []),
            "",
        ],
        ["F1 with ÷ without", f"{m['ratio_f1']}×", "", *([""] if canny else []), "≥ 2×"],
        [
            f"colour word obeyed ({on['coloured_prompts']} prompts naming one)",
            pct(on["colour_word_obeyed"]),
            pct(off["colour_word_obeyed"]),
            *([pct(canny["colour_word_obeyed"])] if canny else []),
            "no worse than without",
        ],
    ]
    if sp:
        rows.append(["4 images through the app (s)", sp["control_4_images_s"], sp["text_to_image_4_images_s"],
                     *([""] if canny else []), "≤ 5 s"])  # fmt: skip
    note = (f"*{m['pictures']} held-out pictures, {m['steps']} steps, strength {m.get('strength', 1.0):g}"
            + (f" (the Canny ControlNet at {canny['strength']:g})" if canny else "")
            + f", from `weights/{name}.json` (`{m['command']}`); speed: {sp.get('how', 'not measured')}, "
            "without = Prompt-to-image.*")  # fmt: skip
    header = [
        "",
        "with ControlNet",
        "without",
        *(["Canny ControlNet on HED's lines (contours)"] if canny else []),
        "goal",
    ]
    return table(header, rows) + "\n\n" + note


def control_strength(name: str = "colour_controlnet") -> str:
    """The default strength's choice on validation pictures (python benchmarks/control.py --choose --write)."""
    ch = card(name)["strength_choice"]
    rows = [
        [
            "without control" if k == "without" else f"**{k}**" if float(k) == ch["chosen"] else k,
            f["edge_f1_mean"],
            pct(f["colour_word_obeyed"]),
        ]
        for k, f in ch["figures"].items()
    ]
    n = next(iter(ch["figures"].values()))["coloured_prompts"]
    note = (f"*{ch['validation_pictures']} validation pictures (none of the 50 above), {n} of them with a colour "
            f"word; rule: {ch['rule']}; chosen **{ch['chosen']:g}** (`{ch['command']}`).*")  # fmt: skip
    return table(["strength", "edge F1 (mean)", "colour word obeyed"], rows) + "\n\n" + note


def control_colour_words() -> str:
    """Colour words on the test pictures used nowhere else (python benchmarks/control.py --colour-words --write)."""
    cw = card("colour_controlnet")["colour_words_fresh"]
    rows = [["without control", pct(cw["without_control"]), "", "", "", ""]]
    for name, f in cw.items():
        if isinstance(f, dict) and "mcnemar_p" in f:
            rows.append([name, pct(f["colour_word_obeyed"]), f["edge_f1_mean"], f["obeyed_only_without"],
                         f["obeyed_only_with"], f["mcnemar_p"]])  # fmt: skip
    note = (f"*{cw['coloured_pictures']} test-split pictures naming a colour, none of the 50 held-out or 120 "
            f"validation ones; strengths {cw['strengths']['canny']:g} (Canny) and {cw['strengths']['hed']:g} (HED), "
            f"{cw['steps']} steps, each picture's seed the same in every arm (`{cw['command']}`).*")  # fmt: skip
    header = ["source (ControlNet)", "colour word obeyed", "edge F1", "obeyed only without", "obeyed only with",
              "McNemar exact p"]  # fmt: skip
    return table(header, rows) + "\n\n" + note


def gpu_seconds() -> str:
    """Each technique's ZeroGPU hold, read from its package (torch-free imports)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from genlab.techniques import REGISTRY

    rows = [[t.TITLE, f"`{t.NAME}`", f"{t.GPU_SECONDS} s"] for t in REGISTRY]
    return table(["tab", "technique", "ZeroGPU hold per request (`GPU_SECONDS`)"], rows)


def readme() -> str:
    """The home page is the README without its Space front matter, its links made relative to docs/."""
    text = (ROOT / "README.md").read_text()
    text = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
    text = text.replace("](docs/", "](")
    return text.replace("(`docs/`)", "").replace("[`docs/`](index.md)", "these pages")


FIGURES = {
    "readme": readme,
    "gpu-seconds": gpu_seconds,
    "fashion-metrics": fashion_metrics,
    "colour-ldm": colour_ldm,
    "colour-sources": colour_sources,
    "cards": cards,
    "control": control,
    "control-strength": control_strength,
    "control-colour-words": control_colour_words,
    "control-hed": lambda: control("colour_controlnet_hed"),
    "control-hed-strength": lambda: control_strength("colour_controlnet_hed"),
}


def render(markdown: str) -> str:
    def one(m: re.Match) -> str:
        if m.group(1) not in FIGURES:
            raise ValueError(f"unknown figures marker {m.group(1)!r}; known: {', '.join(FIGURES)}")
        return FIGURES[m.group(1)]()

    return MARKER.sub(one, markdown)


def on_files(files, config, **kwargs):
    """The pages show the repository's own example pictures: serve examples/results and examples/screenshots."""
    from mkdocs.structure.files import File

    for folder in ("examples/results", "examples/screenshots"):
        for path in sorted((ROOT / folder).glob("*")):
            if path.suffix in {".png", ".jpg", ".gif"}:
                rel = str(path.relative_to(ROOT))
                files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"], use_directory_urls=False))
    return files


def on_page_markdown(markdown, page=None, config=None, files=None, **kwargs):
    return render(markdown)
