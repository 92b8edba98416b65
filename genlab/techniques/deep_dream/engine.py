"""Deep Dream's run(): gradient ascent on the image over octaves (Mordvintsev, Olah & Tyka 2015).

Per octave, smallest first, the image is base_k + detail, where base_k is the start image at that octave's
size and detail is what earlier octaves added, upsampled (the "octave" loop of the original notebook). Each
iteration: shift the image by a random jitter, take the gradient of the L2 objective ½·mean(a²) of the layer's
(or channel's) activations a, smooth it with a Gaussian, divide by its mean absolute value, step, shift back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator

import torch
import torch.nn.functional as F
from PIL import Image

from genlab.core.control import Control, shifted
from genlab.core.devices import cpu_generator, device, precision_on
from genlab.core.images import open_image, resize_long_side, to_picture, to_tensor
from genlab.core.recipes import make_recipe
from genlab.core.steps import Result, Update
from genlab.models.vgg import MODELS, VGGFeatures
from genlab.techniques.deep_dream import GALLERY_CHANNELS, LAYERS, NAME, Settings

PREVIEW_EVERY = 5  # iterations between preview pictures (and one at every octave's end)
GALLERY_SIZE = 128  # long side of each channel picture in the gallery
MIN_OCTAVE = 32  # smallest octave's long side, px


def octave_sizes(s: Settings, long_side: int) -> list[int]:
    """Long side of each octave, smallest first: long_side / scale^k, never below MIN_OCTAVE."""
    return [max(MIN_OCTAVE, round(long_side / s.octave_scale**k)) for k in reversed(range(s.octaves))]


def planned_work(s: Settings, image_size: tuple[int, int], long_side: int) -> float:
    """Pixel-iterations a dream costs: sum over octaves of (octave pixels x iterations)."""
    w, h = image_size
    return sum(s.iterations * L * L * min(w, h) / max(w, h) for L in octave_sizes(s, long_side))


def objective(net: VGGFeatures, x: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """½·mean(a²) of the layer's activations a [B,C,h,w] (or of channel `channel` only): the L2 objective.

    A "conv…" layer with a channel (the gallery) uses the plain mean of the pre-ReLU response instead, as
    feature visualisation does (Olah et al. 2017): it has a gradient even where the channel is still silent."""
    a = net(x, {layer})[layer]
    a = a[:, channel] if channel >= 0 else a
    return a.mean() if layer.startswith("conv") else 0.5 * a.pow(2).mean()


@torch.no_grad()
def mean_activation(net: VGGFeatures, x: torch.Tensor, layer: str, channel: int) -> float:
    a = net(x, {layer})[layer]
    return float((a[:, channel] if channel >= 0 else a).mean())


def smooth(g: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a gradient [1,3,H,W] with standard deviation sigma px (reflect padding)."""
    if sigma <= 0:
        return g
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=g.dtype, device=g.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)  # [3,1,1,2r+1], one filter per channel
    g = F.conv2d(F.pad(g, (r, r, 0, 0), mode="reflect" if g.shape[-1] > r else "replicate"), k, groups=3)
    return F.conv2d(
        F.pad(g, (0, 0, r, r), mode="reflect" if g.shape[-2] > r else "replicate"), k.transpose(-1, -2), groups=3
    )


def noise_start(size: tuple[int, int], seed: int) -> Image.Image:
    """Grey with faint uniform noise: a neutral picture to dream from."""
    w, h = size
    x = 0.5 + 0.1 * (torch.rand(1, 3, h, w, generator=cpu_generator(seed)) - 0.5)
    return to_picture(x)


def dream(
    net: VGGFeatures,
    start: Image.Image,
    s: Settings,
    ctl: Control,
    *,
    layer: str | None = None,
    channel: int | None = None,
    dev=None,
) -> Generator[Update, None, tuple[Image.Image, list[dict]]]:
    """Yields an Update per iteration (a preview every PREVIEW_EVERY and at each octave's end); returns
    (final picture at start's size, history of the objective). ctl.halted() is checked before every iteration."""
    dev = dev or device()
    channel = s.channel if channel is None else channel
    layer = layer or s.layer
    sizes = octave_sizes(s, max(start.size))
    total, done, t0 = s.iterations * len(sizes), 0, time.time()
    gen = cpu_generator(s.seed)
    history: list[dict] = []
    detail = None  # what the dream added so far [1,3,h,w], carried up the octaves
    for k, size in enumerate(sizes, start=1):
        base = to_tensor(resize_long_side(start, size), dev)
        if detail is not None:
            detail = F.interpolate(detail, size=base.shape[-2:], mode="bilinear", align_corners=False)
        x = (base + (detail if detail is not None else 0)).clamp(0, 1)
        for _ in range(s.iterations):
            if ctl.halted():
                break
            dy, dx = torch.randint(-s.jitter, s.jitter + 1, (2,), generator=gen).tolist() if s.jitter else (0, 0)
            rolled = torch.roll(x, (dy, dx), dims=(2, 3)).requires_grad_(True)
            value = objective(net, rolled, layer, channel)
            (g,) = torch.autograd.grad(value, rolled)
            g = smooth(g, s.smoothing)
            g = g / g.abs().mean().clamp_min(1e-12)
            x = (x + s.step_size * torch.roll(g, (-dy, -dx), dims=(2, 3))).clamp(0, 1).detach()
            done += 1
            history.append(
                {"iteration": done, "octave": k, "objective": float(value.detach()), "seconds": time.time() - t0}
            )
            show = done % PREVIEW_EVERY == 0 or done == k * s.iterations
            yield Update(
                done,
                total,
                f"octave {k}/{len(sizes)} · {x.shape[-1]}×{x.shape[-2]} px",
                to_picture(x) if show else None,
                {"history": history, "octaves": len(sizes)},
            )
        detail = x - base
        if ctl.halted():
            break
    final = to_picture(x)
    if max(final.size) != sizes[-1]:  # stopped on a smaller octave: show it at full size
        final = final.resize(resize_long_side(start, sizes[-1]).size, Image.BICUBIC)
    return final, history


def _start(s: Settings, inputs: dict) -> Image.Image:
    if s.start == "noise":
        return noise_start((s.size, s.size), s.seed)
    if not inputs.get("image"):
        raise ValueError("Give a picture to dream on (upload one or click an example), or choose Start from: noise.")
    return resize_long_side(open_image(inputs["image"], min_side=16), s.size)


def run(s: Settings, inputs: dict, ctl: Control):
    if s.action == "channels":
        yield from _channels(s, ctl)
        return
    start = _start(s, inputs)
    what = f"{s.octaves} octave(s) x {s.iterations} iterations at up to {s.size} px"
    ctl.charge(planned_work(s, start.size, s.size), what, "Use a smaller size, fewer octaves or fewer iterations.")
    yield Update(0, 1, "loading the VGG backbone (first run only)")
    net, label = MODELS.get("default")
    dev = device()
    net = net.to(dev)
    before = mean_activation(net, to_tensor(start, dev), s.layer, s.channel)
    final, history = yield from dream(net, start, s, ctl, dev=dev)
    after = mean_activation(net, to_tensor(final, dev), s.layer, s.channel)
    what = s.layer if s.channel < 0 else f"{s.layer} channel {s.channel}"
    rise = f"{after / before:.1f}×" if before > 0 else "from 0"
    done = len(history)
    recipe = {**make_recipe(NAME, s.params(), weights=label, seed=s.seed), "stopped_at": done}
    info = (
        f"Mean activation of **{what}**: {before:.3f} → **{after:.3f}** ({rise}) · {done} / "
        f"{s.octaves * s.iterations} iterations · {final.width}×{final.height} px · "
        f"{ctl.elapsed():.1f} s · backbone: {label} ({precision_on(dev)}){ctl.note()}"
    )
    data = {"history": history, "octaves": s.octaves, "before": before, "after": after}
    yield Result([final], [recipe], info, data=data, stopped=ctl.reason)


def gallery_channels(s: Settings) -> list[int]:
    """GALLERY_CHANNELS channels of the layer: from s.channel on, or spread evenly over the layer (-1)."""
    width = LAYERS[s.layer]
    if s.channel >= 0:
        return [(s.channel + i) % width for i in range(GALLERY_CHANNELS)]
    return [i * width // GALLERY_CHANNELS for i in range(GALLERY_CHANNELS)]


def _channels(s: Settings, ctl: Control):
    """What single channels of the layer amplify: each dreamed from the same noise at GALLERY_SIZE px."""
    channels = gallery_channels(s)
    size = min(s.size, GALLERY_SIZE)
    work = len(channels) * planned_work(s, (size, size), size)
    ctl.charge(
        work, f"{len(channels)} channels x {s.octaves} octave(s) x {s.iterations} iterations", "Use fewer iterations."
    )
    yield Update(0, 1, "loading the VGG backbone (first run only)")
    net, label = MODELS.get("default")
    dev = device()
    net = net.to(dev)
    start = noise_start((size, size), s.seed)
    pictures, captions, per = [], [], s.octaves * s.iterations
    for i, c in enumerate(channels):
        if ctl.halted():
            break
        steps = dream(net, start, s, ctl, layer=s.layer.replace("relu", "conv"), channel=c, dev=dev)
        final, _ = yield from shifted(steps, i * per, len(channels) * per, f"channel {c} ({i + 1}/{len(channels)})")
        pictures.append(final)
        captions.append(f"{s.layer} · channel {c}")
    recipes = [
        make_recipe(
            NAME, s.replace(action="dream", start="noise", channel=c, size=size).params(), weights=label, seed=s.seed
        )
        for c in channels[: len(pictures)]
    ]
    info = (
        f"What {len(pictures)} single channels of **{s.layer}** amplify, each dreamed from the same noise · "
        f"{ctl.elapsed():.1f} s · backbone: {label} ({precision_on(dev)}){ctl.note()}"
    )
    yield Result(pictures, recipes, info, captions=captions[: len(pictures)], stopped=ctl.reason)
