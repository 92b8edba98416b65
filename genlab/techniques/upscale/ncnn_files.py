"""Minimal numpy-only reader for ncnn models (.param text + .bin weights).

Only what the super-resolution models in sr_vulkan_model_{realesrgan,waifu2x}
need; anything else raises ValueError instead of being guessed.

.param (text format)
    7767517                     magic
    <layer_count> <blob_count>
    <Type> <Name> <nin> <nout> <in blobs...> <out blobs...> k=v k=v ...
  * plain keys 0..N hold one int or float (a float is written with '.' or 'e')
  * array keys are written as -(23300 + id)=count,v1,v2,...  e.g. -23310=1,0.1
    (id 10 = activation_params of Convolution: [0.1] = LeakyReLU slope).

.bin (raw little-endian, no header), layers in .param order:
  * Convolution / ConvolutionDepthWise / Deconvolution:
        weight_data : 4-byte tag, then data, padded to a multiple of 4 bytes
                      tag 0x01306B47 -> fp16, 0x00000000 -> fp32,
                      0x000D4B38 -> int8 (refused), anything else refused
        bias_data   : num_output raw fp32, no tag (only if bias_term 5=1)
  * PReLU: num_slope raw fp32, no tag
  * every other layer used here carries no weights.

Weight layouts (ncnn src/layer/convolution.cpp, deconvolution.cpp):
  * Convolution   : (out, in, kh, kw)          == torch Conv2d.weight
  * ConvDepthWise : (out, in/group, kh, kw)     == torch Conv2d(groups=g).weight
  * Deconvolution : (out, in, kh, kw)  -- ncnn forward loops
        `kptr = weight_data + maxk*channels*p` for output channel p and
        scatters input*w[k] with no kernel flip.  torch ConvTranspose2d wants
        (in, out, kh, kw), i.e. weight.transpose(1, 0); this is done by
        genlab.techniques.upscale.networks and checked numerically in tests/test_upscale.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32 = 0x00000000

# Layer types that are known to carry no data in the .bin file.
WEIGHTLESS = {
    "Input",
    "Split",
    "Concat",
    "Eltwise",
    "BinaryOp",
    "Interp",
    "PixelShuffle",
    "ReLU",
    "Sigmoid",
    "Crop",
    "Padding",
    "Noop",
    "Reshape",
    "Flatten",
}
CONV_TYPES = {"Convolution", "ConvolutionDepthWise", "Deconvolution"}


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, int | float | list]  # key -> value (array keys use id, e.g. 10)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def p(self, key: int, default=None):
        return self.params.get(key, default)

    def __repr__(self) -> str:
        w = {k: v.shape for k, v in self.weights.items()}
        return f"Layer({self.type} {self.name} {self.inputs}->{self.outputs} {self.params} {w})"


def _num(tok: str) -> int | float:
    # ncnn's ParamDict treats a token as float if it contains '.', 'e' or 'E'.
    return float(tok) if any(c in tok for c in ".eE") else int(tok)


def parse_param(path: str | Path) -> list[Layer]:
    lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines or int(lines[0]) != MAGIC:
        raise ValueError(f"{path}: bad magic (expected {MAGIC}, text .param only)")
    n_layers, _n_blobs = map(int, lines[1].split())
    body = lines[2:]
    if len(body) != n_layers:
        raise ValueError(f"{path}: header says {n_layers} layers, found {len(body)} lines")
    layers = []
    for ln in body:
        tok = ln.split()
        typ, name, nin, nout = tok[0], tok[1], int(tok[2]), int(tok[3])
        ins, outs = tok[4 : 4 + nin], tok[4 + nin : 4 + nin + nout]
        params: dict = {}
        for kv in tok[4 + nin + nout :]:
            k, v = kv.split("=", 1)
            k = int(k)
            if k <= -23300:  # array parameter
                vals = v.split(",")
                count = int(vals[0])
                if count != len(vals) - 1:
                    raise ValueError(f"{name}: array param {kv} count mismatch")
                params[-k - 23300] = [_num(x) for x in vals[1:]]
            else:
                params[k] = _num(v)
        layers.append(Layer(typ, name, ins, outs, params))
    return layers


class _Reader:
    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, nbytes: int, what: str) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise ValueError(
                f"{self.path}: truncated reading {what} ({nbytes} bytes at offset {self.pos}, file {len(self.data)})"
            )
        b = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return b

    def raw_fp32(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, what), "<f4").copy()

    def tagged(self, n: int, what: str) -> np.ndarray:
        tag = int.from_bytes(self.take(4, what + " tag"), "little")
        if tag == TAG_FP16:
            nbytes = 2 * n
            arr = np.frombuffer(self.take(nbytes, what), "<f2").astype(np.float32)
            self.take((-nbytes) % 4, what + " padding")  # align to 4 bytes
            return arr
        if tag == TAG_FP32:
            return self.raw_fp32(n, what)
        if tag == TAG_INT8:
            raise ValueError(f"{self.path}: {what} is int8-quantised (tag 0x{tag:08X}), unsupported")
        raise ValueError(f"{self.path}: {what} has unknown storage tag 0x{tag:08X} at offset {self.pos - 4}")


def load_bin(layers: list[Layer], path: str | Path) -> list[Layer]:
    """Fill layer.weights in place from the .bin file; returns layers."""
    rd = _Reader(Path(path).read_bytes(), path)
    for L in layers:
        if L.type in CONV_TYPES:
            num_out, kw = L.p(0, 0), L.p(1, 0)
            kh = L.p(11, kw)
            size = L.p(6, 0)
            dynamic = L.p(28 if L.type == "Deconvolution" else 19, 0)
            if L.p(8, 0) or dynamic:
                raise ValueError(f"{L.name}: int8 scales / dynamic weights not supported")
            group = L.p(7, 1) if L.type == "ConvolutionDepthWise" else 1
            per_out = size // num_out if num_out else 0
            if num_out <= 0 or size % (num_out * kh * kw):
                raise ValueError(
                    f"{L.name}: weight_data_size {size} not divisible by num_output*kh*kw = {num_out}*{kh}*{kw}"
                )
            w = rd.tagged(size, f"{L.name}.weight")
            # (out, in/group, kh, kw) for all three; see module docstring for Deconvolution.
            L.weights["weight"] = w.reshape(num_out, per_out // (kh * kw), kh, kw)
            if group != 1 and L.type != "ConvolutionDepthWise":
                raise ValueError(f"{L.name}: unexpected group param")
            if L.p(5, 0):
                L.weights["bias"] = rd.raw_fp32(num_out, f"{L.name}.bias")
        elif L.type == "PReLU":
            L.weights["slope"] = rd.raw_fp32(L.p(0, 1), f"{L.name}.slope")
        elif L.type not in WEIGHTLESS:
            raise ValueError(f"{L.name}: layer type {L.type!r} not supported by this reader")
    if rd.pos != len(rd.data):
        raise ValueError(f"{path}: {len(rd.data) - rd.pos} leftover bytes after last layer")
    return layers


def load_ncnn(param_path: str | Path, bin_path: str | Path | None = None) -> list[Layer]:
    """Parse <name>.param and <name>.bin -> list[Layer] with numpy float32 weights."""
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path else param_path.with_suffix(".bin")
    return load_bin(parse_param(param_path), bin_path)
