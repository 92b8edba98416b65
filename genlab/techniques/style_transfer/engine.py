"""Style transfer's run(): open and check the pictures, charge the budget, then Gatys or the fast network."""

from __future__ import annotations

from genlab.core.control import Control
from genlab.core.devices import device, precision_on
from genlab.core.images import open_image
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.models.vgg import MODELS
from genlab.techniques.style_transfer import NAME, Settings
from genlab.techniques.style_transfer.gatys import level_plan, planned_work, stylise


def pictures(inputs: dict):
    """(content, [style, optional second style]) opened and checked; ValueError when one is missing."""
    if not inputs.get("content") or not inputs.get("style"):
        raise ValueError("Give a content image and a style image (or click an example).")
    styles = [inputs["style"]] + ([inputs["style2"]] if inputs.get("style2") else [])
    return open_image(inputs["content"], min_side=16), [open_image(p, min_side=16) for p in styles]


def run(s: Settings, inputs: dict, ctl: Control):
    content, styles = pictures(inputs)
    if s.action == "fast":
        from genlab.techniques.style_transfer.fast import fast_stylise

        yield Update(0, 1, "one forward pass")
        im, label = fast_stylise(content, styles[0], strength=s.strength, size=s.size)
        recipe = make_recipe(NAME, s.params(), weights=label)
        yield Result([im], [recipe], f"**Fast mode** · {label}")
        return
    what = f"{s.steps} iterations at {s.size} px"
    if s.levels > 1:
        what += f" after {s.levels - 1} smaller level(s) of {s.coarse_steps}"
    ctl.charge(planned_work(s, content.size), what, "Use a smaller size or fewer iterations.")
    yield Update(0, 1, "loading the VGG backbone (first run only)")
    net, label = MODELS.get("default")
    final, history = yield from stylise(net, content, styles, s, ctl)
    done = history[-1]["step"] if history else 0
    recipe = {**make_recipe(NAME, s.params(), weights=label, seed=s.seed), "stopped_at": done}
    seconds = history[-1]["seconds"] if history else 0.0
    info = (
        f"**{done} / {sum(level_plan(s))}** iterations · {seconds:.1f} s · "
        f"backbone: {label} ({precision_on(device())}){ctl.note()}"
    )
    yield Result([final], [recipe], info, data={"history": history}, stopped=ctl.reason)
