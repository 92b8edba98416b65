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


def loss_curves(name: str, keys: dict[str, str]) -> list[dict]:
    """Long-format rows {epoch, loss, series} of a card's loss_curves, for a line plot (keys: card key -> series)."""
    rows = card(name).get("loss_curves", [])
    return [{"epoch": r["epoch"], "loss": r[k], "series": label} for r in rows for k, label in keys.items() if k in r]
