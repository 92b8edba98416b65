"""Model cards and measured metrics shipped in weights/: read once, shown in the tabs."""

from __future__ import annotations

import json
from functools import cache

from genlab.core.weights import REPO_WEIGHTS


@cache
def card(name: str) -> dict:
    """weights/<name>.json, or {} when it is missing."""
    p = REPO_WEIGHTS / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def metrics_md(prefix: str) -> str:
    """The rows of weights/metrics.json whose model name starts with prefix, as a Markdown table."""
    rows = [r for r in card("metrics").get("rows", []) if r["model"].startswith(prefix)]
    if not rows:
        return "_Metrics: run `python -m genlab.evaluate` to compute them._"
    out = [
        "| model | FID (classifier features) ↓ | KID ↓ | smallest class share | judged as requested |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        jr = f"{r['judged_as_requested']:.1%}" if r.get("judged_as_requested") is not None else "—"
        out.append(f"| {r['model']} | {r['fid']:.2f} | {r['kid']:.4f} | {r['min_class_share']:.1%} | {jr} |")
    return "\n".join(out)


JUDGE_NAMES = {"vgg": "judge: ImageNet VGG16 features + head", "cnn": "judge: small CNN"}


def colour_metrics_md() -> str:
    """The colour model's measured figures (weights/colour_ldm.json, written by python -m genlab.colour.evaluate)."""
    m = card("colour_ldm").get("metrics")
    if not m:
        return "_Colour model metrics: run `python -m genlab.colour.evaluate` to compute them._"
    fid, sp = m["fid"], card("colour_ldm").get("speed", {})
    rows = [
        "| colour model, default settings | measured | goal |",
        "|---|---|---|",
    ]
    for name in sorted(m["judges"], key=lambda k: k != m["judge"]):  # the headline judge first
        j = m["judges"][name]
        about = (
            f"{JUDGE_NAMES[name]}, {j['card']['test_accuracy']:.1%} right on real test pictures; real held-out "
            f"pictures of those groups: {j['ceiling_real_pictures']:.1%}"
        )
        goal = "≥ 70 %" if name == m["judge"] else "—"
        rows.append(
            f"| held-out paraphrases judged as the requested group ({about}) | {j['judged_as_requested']:.1%} | {goal} |"
        )
    rows.append(  # where the headline judge's points go, from real pictures to paraphrases
        f"| where the points go ({JUDGE_NAMES[m['judge']]}): real held-out pictures · the same through the VAE · "
        f"samples of their own captions · samples of the paraphrases | {m['ceiling_real_pictures']:.1%} · "
        f"{m['ceiling_through_vae']:.1%} · {m['judged_own_captions']:.1%} · {m['judged_as_requested']:.1%} | — |"
    )
    rows += [
        f"| colour words obeyed (dominant hue) | {m['colour_obeyed']:.1%} | ≥ 80 % |",
        f"| FID (small CNN's features): samples · training pictures (floor) · VAE reconstructions | {fid['samples_heldout_prompts']:.1f} · "
        f"{fid['floor_train_images']:.1f} · {fid['vae_reconstructions']:.1f} | — |",
    ]
    if sp:
        rows.append(f"| 4 images, {sp['steps']} steps, in the process | {sp['4_images_s']:.2f} s | ≤ 3 s |")
    return "\n".join(rows) + f"\n\n{m['samples_per_prompt']} samples per prompt; `{m['command']}`."


def loss_curves(name: str, keys: dict[str, str]) -> list[dict]:
    """Long-format rows {epoch, loss, series} of a card's loss_curves, for a line plot (keys: card key -> series)."""
    rows = card(name).get("loss_curves", [])
    return [{"epoch": r["epoch"], "loss": r[k], "series": label} for r in rows for k, label in keys.items() if k in r]
