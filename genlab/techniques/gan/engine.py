"""The GAN's two actions: per-seed samples, and a latent walk (slerp or lerp in z, lerp in class embedding)."""

from __future__ import annotations

import torch

from genlab.core.control import Control
from genlab.core.images import enlarge, strip, to_pictures
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.datasets import FASHION_CLASSES
from genlab.techniques.gan import NAME, Settings
from genlab.techniques.gan.model import MODELS, generate, latents, lerp, seed_labels, slerp


def _class_index(name: str, seed: int) -> int:
    return FASHION_CLASSES.index(name) if name != "any" else int(seed_labels([seed], len(FASHION_CLASSES))[0])


def _generator(s: Settings, weights) -> tuple:
    """(g(z, y) -> images in [0,1], embed(y) or None when unconditional, z_dim, label): genlab's class-conditional
    DCGAN, or the user's unconditional one from Train live (weights = its file)."""
    if not weights:
        g, label = MODELS.get("default")
        return (lambda z, e: generate(g, z, e)), g.embed, g.cfg.z_dim, label
    from genlab.models import live

    asked = [c for c in ((s.class_name,) if s.action == "sample" else (s.class_name, s.class_b)) if c != "any"]
    if asked:
        which = "the class" if s.action == "sample" else "Class A and Class B"
        raise ValueError(
            f"The generator you trained in Train live is unconditional: it cannot be asked for "
            f"{' or '.join(dict.fromkeys(asked))}. Set {which} to any, or clear 'Your weights' to use genlab's "
            "class-conditional DCGAN."
        )
    g, label = live.load(weights, "gan")
    return (lambda z, e: (g(z) + 1) / 2), None, live.Z_GAN, label


def run(s: Settings, inputs: dict, ctl: Control):
    n = s.count if s.action == "sample" else s.frames
    ctl.charge(28 * 28 * n, f"{n} pictures of 28x28 px", "Ask for fewer pictures.")
    draw, embed, z_dim, label = _generator(s, inputs.get("weights"))
    t = s.truncation or None
    yield Update(0, 1, "sampling" if s.action == "sample" else "walking")
    if ctl.halted():  # one step: nothing is drawn after a Stop
        raise ValueError("Stopped before the GAN drew anything.")
    if s.action == "sample":
        seeds = list(range(s.seed, s.seed + s.count))
        y = torch.tensor([_class_index(s.class_name, k) for k in seeds])
        with torch.no_grad():
            x = draw(latents(seeds, z_dim, truncation=t), embed(y) if embed else None)
        recipes = [make_recipe(NAME, {**s.params(), "seed": k, "count": 1}, weights=label, seed=k) for k in seeds]
        captions = [f"seed {k}" + (f" · {FASHION_CLASSES[int(c)]}" if embed else "") for k, c in zip(seeds, y)]
        yield Result([enlarge(im) for im in to_pictures(x)], recipes, f"**Weights:** {label}", captions)
        return
    ya, yb = _class_index(s.class_name, s.seed), _class_index(s.class_b, s.seed_b)
    z = latents([s.seed, s.seed_b], z_dim, truncation=t)
    steps = torch.linspace(0, 1, s.frames)
    zs = (slerp if s.path == "slerp" else lerp)(z[0], z[1], steps)
    with torch.no_grad():
        e = lerp(embed(torch.tensor(ya)), embed(torch.tensor(yb)), steps) if embed else None
        frames = [enlarge(im) for im in to_pictures(draw(zs, e))]
    recipe = make_recipe(NAME, s.params(), weights=label, seed=s.seed)
    walk = f"{FASHION_CLASSES[ya]} → {FASHION_CLASSES[yb]}" if embed else f"seed {s.seed} → seed {s.seed_b}"
    info = f"{walk} · {s.path} · **Weights:** {label}"
    yield Result([strip(frames)], [recipe], info, data={"frames": frames})
