"""Gatys et al. (2016) style transfer as an optimisation over the image's pixels.

genlab's default: L-BFGS with one objective evaluation per iteration (no line search; Johnson's
neural-style), which reaches the textbook's strong-Wolfe result in far fewer evaluations; a half-size
level first (its change upsampled onto the full-size content) for a quick first picture; style Gram
targets computed once per level; the image kept in [0,1] at every evaluation; NHWC convolutions.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import torch
import torch.nn.functional as F
from PIL import Image

from genlab.core.control import Control, returned
from genlab.core.devices import cpu_generator, device
from genlab.core.images import resize_long_side, to_picture, to_tensor
from genlab.core.steps import Update
from genlab.models.vgg import VGGFeatures
from genlab.techniques.style_transfer import STYLE_LAYERS, Settings

CONTENT_LAYER = "conv4_2"
PREVIEW_EVERY = 5  # iterations between preview pictures


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F F^T / (C H W)  (Gatys et al. 2016, eq. 3): [B,C,H,W] -> [B,C,C]."""
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean |x[i+1,j]-x[i,j]| + mean |x[i,j+1]-x[i,j]|."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class Objective:
    """L = a * L_content + b * sum_l w_l L_style,l + c * L_tv   (Gatys et al. 2016, eq. 7, plus TV).

    Content and style targets are computed once, at construction, for one image size.
    """

    def __init__(self, net: VGGFeatures, content: torch.Tensor, style_grams: dict[str, torch.Tensor], s: Settings):
        self.net, self.s = net, s
        self.weights = dict(zip(STYLE_LAYERS, s.layer_weights))
        self.style_layers = {k for k, w in self.weights.items() if w > 0}
        with torch.no_grad():
            self.content_target = net(content, {CONTENT_LAYER})[CONTENT_LAYER]
        self.style_grams = style_grams

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self.net(x, self.style_layers | {CONTENT_LAYER})
        c = F.mse_loss(feats[CONTENT_LAYER], self.content_target)
        st = sum(self.weights[k] * F.mse_loss(gram(feats[k]), self.style_grams[k]) for k in self.style_layers)
        st = st if isinstance(st, torch.Tensor) else torch.zeros((), device=x.device)
        tv = tv_loss(x)
        total = self.s.content_weight * c + self.s.style_weight * st + self.s.tv_weight * tv
        return total, {"content": c.item(), "style": st.item(), "tv": tv.item(), "total": total.item()}


def style_grams(
    net: VGGFeatures, styles: list[torch.Tensor], ratios: list[float], layers: set[str]
) -> dict[str, torch.Tensor]:
    """Blended Gram targets sum_i r_i G_l(style_i) per layer, each [1,C,C]."""
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for im, r in zip(styles, ratios):
            feats = net(im, layers)
            for k in layers:
                out[k] = out.get(k, 0) + r * gram(feats[k])
    return out


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ as a 3-channel grey image [B,3,H,W]."""
    y = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return y.expand(-1, 3, -1, -1)


def keep_colors(stylised: Image.Image, content: Image.Image) -> Image.Image:
    """Luminance of `stylised` with the chroma (YCbCr Cb, Cr) of `content` (Gatys et al. 2017, sec. 3.2)."""
    y = stylised.convert("YCbCr").split()[0]
    _, cb, cr = content.resize(stylised.size, Image.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def level_sizes(s: Settings) -> list[int]:
    """Long sides of the coarse-to-fine levels, smallest first, each half the next (>= 64 px)."""
    return [max(64, s.size >> (s.levels - 1 - i)) for i in range(s.levels)]


def level_plan(s: Settings) -> list[int]:
    """Iterations per level, smallest first."""
    return [s.coarse_steps] * (s.levels - 1) + [s.steps]


def planned_work(s: Settings, content_size: tuple[int, int]) -> float:
    """Pixel-iterations a run will cost: sum over levels of (level pixels x iterations)."""
    w, h = content_size
    return sum(n * L * L * min(w, h) / max(w, h) for L, n in zip(level_sizes(s), level_plan(s)))


def _optimizer(name: str, x: torch.Tensor) -> torch.optim.Optimizer:
    if name == "lbfgs":  # one evaluation per iteration (Johnson's neural-style); history kept across calls
        return torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50)
    if name == "lbfgs-wolfe":  # the textbook: strong-Wolfe line search, several evaluations per iteration
        return torch.optim.LBFGS([x], lr=1.0, max_iter=1, max_eval=20, history_size=50, line_search_fn="strong_wolfe")
    return torch.optim.Adam([x], lr=0.02)


def stylise(
    net: VGGFeatures,
    content: Image.Image,
    styles: list[Image.Image],
    s: Settings,
    ctl: Control,
    dev: torch.device | None = None,
) -> Generator[Update, None, tuple[Image.Image, list[dict]]]:
    """Optimise; yields an Update after every iteration (a preview picture every PREVIEW_EVERY) and returns
    (final picture at full size, loss history). ctl.halted() is checked before every iteration."""
    dev = dev or device()
    net = net.to(dev)
    ratios = [s.style_blend, 1 - s.style_blend] if len(styles) == 2 else [1.0]
    sizes, plan = level_sizes(s), level_plan(s)
    total = sum(plan)
    history: list[dict[str, float]] = []
    t0, done, x, prev_c, evals = time.time(), 0, None, None, 0
    layers = {k for k, w in zip(STYLE_LAYERS, s.layer_weights) if w > 0}
    for level, (size, steps) in enumerate(zip(sizes, plan), start=1):
        c_im = resize_long_side(content, size)
        c = to_tensor(c_im, dev)
        st = [to_tensor(resize_long_side(im, max(16, round(size * s.style_scale))), dev) for im in styles]
        if s.preserve_colors:
            c, st = luminance(c), [luminance(t) for t in st]
        obj = Objective(net, c, style_grams(net, st, ratios, layers), s)
        x = _start(x, prev_c, c, s, dev)
        prev_c = c
        step = _Step(obj, x, _optimizer(s.optimizer, x), evals=evals)
        if not history:  # the starting point, so curves (and tests) see the loss before any step
            with torch.no_grad():
                history.append({"step": 0, "level": level, "seconds": time.time() - t0, **obj(x)[1]})
        for _ in range(steps):
            if ctl.halted():
                break
            parts = step()
            done += 1
            evals = step.evals
            history.append({"step": done, "level": level, "seconds": time.time() - t0, "evals": evals, **parts})
            preview = _finish(x, c_im, s) if done % PREVIEW_EVERY == 0 else None
            yield Update(done, total, f"level {level}/{len(sizes)}", preview, {"history": history, "level": level})
        if ctl.halted():
            break
    full = resize_long_side(content, sizes[-1])
    final = _finish(x, full, s)
    if final.size != full.size:  # stopped on a coarse level: show it at full size
        final = final.resize(full.size, Image.BICUBIC)
    return final, history


def _start(x: torch.Tensor | None, prev_c: torch.Tensor | None, c: torch.Tensor, s: Settings, dev) -> torch.Tensor:
    """The image a level starts from (a leaf tensor to optimise)."""
    if x is None:
        x = torch.rand(c.shape, generator=cpu_generator(s.seed)).to(dev) if s.init == "noise" else c.clone()
    else:
        # Upsample what the coarse level changed, not the blurry coarse image itself: the full-size content
        # keeps its own fine detail, which is much closer to the full-size optimum than a bilinear blur.
        delta = x.detach() - prev_c  # [1,3,h,w]
        x = (c + F.interpolate(delta, size=c.shape[-2:], mode="bilinear", align_corners=False)).clamp(0, 1)
    return x.contiguous().requires_grad_(True)


class _Step:
    """One optimiser iteration on x; counts objective evaluations (over all levels); returns the last losses."""

    def __init__(self, obj: Objective, x: torch.Tensor, opt: torch.optim.Optimizer, evals: int = 0):
        self.obj, self.x, self.opt, self.evals, self.last = obj, x, opt, evals, {}

    def closure(self) -> torch.Tensor:
        with torch.no_grad():
            self.x.clamp_(0, 1)  # stay a displayable image (as the PyTorch tutorial's textbook loop does)
        self.opt.zero_grad(set_to_none=True)
        self.evals += 1
        loss, self.last = self.obj(self.x)
        loss.backward()
        return loss

    def __call__(self) -> dict[str, float]:
        self.opt.step(self.closure)
        return self.last


def _finish(x: torch.Tensor, content_im: Image.Image, s: Settings) -> Image.Image:
    im = to_picture(x.detach().clamp(0, 1))
    return keep_colors(im, content_im) if s.preserve_colors else im


def optimise(
    net: VGGFeatures, content: Image.Image, styles: list[Image.Image], s: Settings, ctl: Control | None = None
):
    """stylise() run to its end: (final picture, loss history). For scripts and benchmarks."""
    return returned(stylise(net, content, styles, s, ctl or Control(seconds=float("inf"), budget=float("inf"))))
