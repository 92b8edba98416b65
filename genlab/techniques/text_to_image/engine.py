"""Prompt-to-image's run(): charge the request once, then one generation or the seed x guidance grid."""

from __future__ import annotations

from PIL import Image, ImageDraw

from genlab.core.control import Control, shifted
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.techniques.text_to_image import GRID_SCALES, GRID_SEEDS, NAME, Settings
from genlab.techniques.text_to_image.pipelines import generate


def _work(s: Settings, batch: int) -> tuple[float, str]:
    return s.side * s.side * s.steps * batch, f"{s.side}x{s.side} px x {s.steps} steps x {batch} images"


def run(s: Settings, ctl: Control):
    hint = "Use fewer steps, a smaller size or a smaller batch."
    if s.action == "grid":
        work, what = _work(s, GRID_SEEDS)
        ctl.charge(work * len(GRID_SCALES), f"{len(GRID_SCALES)} x {what}", hint)
        yield from _grid(s, ctl)
        return
    ctl.charge(*_work(s, s.batch), hint)
    yield Update(0, s.steps, f"loading {s.model} (first use only)")
    images, traj, label = yield from generate(s, ctl)
    recipes = [
        make_recipe(NAME, {**s.params(), "seed": s.seed + i, "batch": 1}, weights=label, seed=s.seed + i)
        for i in range(len(images))
    ]
    done = traj.steps[-1] + 1 if traj.steps else 0
    info = f"**Weights:** {label} · {s.scheduler}, {done}/{s.steps} steps{ctl.note()}"
    if traj.read_as:
        info += "  \n**Read as** (the training captions nearest your words, by weight): " + ", ".join(
            f"“{text}” {w:.0%}" for text, w in traj.read_as
        )
    captions = [f"seed {s.seed + i}" for i in range(len(images))]
    yield Result(images, recipes, info, captions, data={"trajectory": traj}, stopped=ctl.reason)


def _grid(s: Settings, ctl: Control):
    """Rows: GRID_SEEDS seeds; columns: guidance GRID_SCALES. How guidance trades variety for fidelity."""
    cell = 112 if s.offline else 192
    grid = Image.new("RGB", (40 + cell * len(GRID_SCALES), 20 + cell * GRID_SEEDS), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    label = ""
    for j, w in enumerate(GRID_SCALES):
        if ctl.halted():
            break
        one = s.replace(guidance=w, batch=GRID_SEEDS, action="generate")
        images, _, label = yield from shifted(generate(one, ctl), j * s.steps, len(GRID_SCALES) * s.steps)
        draw.text((40 + j * cell + 4, 4), f"w = {w:g}", fill=(255, 255, 255))
        for i, im in enumerate(images):
            resample = Image.NEAREST if s.offline else Image.LANCZOS
            grid.paste(im.convert("RGB").resize((cell, cell), resample), (40 + j * cell, 20 + i * cell))
            if j == 0:
                draw.text((2, 20 + i * cell + 4), f"{s.seed + i}", fill=(255, 255, 255))
        yield Update((j + 1) * s.steps, len(GRID_SCALES) * s.steps, f"guidance {w:g}")
    recipe = make_recipe(NAME, s.params(), weights=label, seed=s.seed)
    yield Result([grid], [recipe], f"Seed × guidance grid{ctl.note()}", stopped=ctl.reason)
