"""Structural control for the colour model: edge maps and a ControlNet (Zhang, Rao & Agrawala 2023).

An edge map is a float [B,1,128,128] in {0,1} (1 = line), white lines on black as the public Canny ControlNets
take them. `canny` extracts it from pictures with OpenCV; `scribble` thickens and breaks the lines at random, so
a ControlNet trained on clean Canny edges also follows hand-drawn strokes. The ControlNet is diffusers'
`ControlNetModel.from_unet(unet)`: a trainable copy of the UNet's encoder and middle whose outputs enter the
frozen UNet through zero-initialised 1x1 convolutions (eq. 1-2 of the paper), so training starts from the plain
model. Note: diffusers' ControlNet takes no cross-attention mask; padded token positions are zero features.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV Canny hysteresis thresholds (on a 3x3-blurred grey picture)
SHIPPED_NAME = "colour_controlnet"  # on Canny edges; SHIPPED_NAMES: per kind of map
SHIPPED_NAMES = {"canny": SHIPPED_NAME, "hed": "colour_controlnet_hed"}
ENV_VAR = "GENLAB_COLOUR_CONTROLNET_WEIGHTS"


def canny(pictures: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """uint8 RGB [N,H,W,3] (or one [H,W,3]) -> uint8 edge maps [N,H,W] (or [H,W]) with 255 on edges."""
    import cv2

    one = pictures.ndim == 3
    pics = pictures[None] if one else pictures
    out = np.empty(pics.shape[:3], np.uint8)
    for i, p in enumerate(pics):
        grey = cv2.cvtColor(np.ascontiguousarray(p), cv2.COLOR_RGB2GRAY)
        out[i] = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), low, high)
    return out[0] if one else out


def to_control(edges: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 / bool / float edge maps [N,H,W] -> float [N,1,H,W] in {0,1}."""
    e = torch.as_tensor(np.asarray(edges))
    return (e > (127 if e.dtype == torch.uint8 else 0.5)).float()[:, None]


def maps(pictures: np.ndarray, kind: str) -> tuple[torch.Tensor, np.ndarray]:
    """uint8 pictures [N,128,128,3] -> (what the `kind` ControlNet reads [N,1,128,128] float32, the edges its output
    is scored against, uint8 [N,128,128] with 255 = edge): Canny edges twice; or, for hed, HED's soft edges (the
    HED ControlNet's training maps) and their thinned lines, from one HED pass each (genlab.colour.hed.contours)."""
    if kind == "canny":
        edges = canny(pictures)
        return to_control(edges), edges
    from genlab.colour import hed

    soft, lines = zip(*(hed.contours(p) for p in pictures))
    return torch.from_numpy(np.stack(soft))[:, None], np.stack(lines)


def scribble(e: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random scribble-like versions of edge maps [B,1,H,W]: per picture, lines thickened to 1, 3 or 5 px and
    up to a third of 16x16 cells erased (as a hand drawing leaves lines out), or left clean."""
    b = len(e)
    kind = torch.randint(0, 3, (b,), generator=generator)  # 0 clean, 1 thickened 3 px, 2 thickened 5 px
    thick3 = F.max_pool2d(e, 3, 1, 1)
    thick5 = F.max_pool2d(e, 5, 1, 2)
    out = torch.where((kind == 1).view(b, 1, 1, 1), thick3, e)
    out = torch.where((kind == 2).view(b, 1, 1, 1), thick5, out)
    h, w = e.shape[-2:]
    keep_p = 1 - torch.rand(b, 1, 1, 1, generator=generator) / 3  # erase 0..33 % of the cells
    cells = (torch.rand(b, 1, h // 16, w // 16, generator=generator) < keep_p).float()
    erase = torch.rand(b, generator=generator) < 0.5
    cells = torch.where(erase.view(b, 1, 1, 1), cells, torch.ones_like(cells))
    return out * F.interpolate(cells, size=(h, w), mode="nearest")


def build_controlnet(unet):
    """A ControlNet copied from the colour UNet (encoder + middle weights; zero convolutions), 1-channel input."""
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_channels=1)


def edge_f1(pred: np.ndarray, target: np.ndarray, tolerance: int = 2) -> float:
    """F1 of edge maps [H,W] (nonzero = edge) with a `tolerance`-pixel match radius (a BSDS-style measure without
    one-to-one matching): precision = predicted edge pixels within tolerance of a target edge, recall likewise."""
    import cv2

    p, t = pred > 0, target > 0
    if not p.any() and not t.any():
        return 1.0
    if not p.any() or not t.any():
        return 0.0
    k = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    near_t = cv2.dilate(t.astype(np.uint8), k) > 0
    near_p = cv2.dilate(p.astype(np.uint8), k) > 0
    precision = (p & near_t).sum() / p.sum()
    recall = (t & near_p).sum() / t.sum()
    return float(0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))


# ---------------------------------------------------------------- the shipped ControlNets
KINDS = {"canny": "Canny edges", "hed": "HED soft edges"}  # the maps each shipped ControlNet was trained on
ENV_VARS = {"canny": ENV_VAR, "hed": "GENLAB_COLOUR_HED_CONTROLNET_WEIGHTS"}


def shipped_dir(kind: str = "canny"):
    from genlab.core.weights import REPO_WEIGHTS

    return REPO_WEIGHTS / SHIPPED_NAMES[kind]


def load_controlnet(path: str | None = None, kind: str = "canny"):
    """(ControlNetModel in float32, weights label) of the ControlNet trained on `kind` maps (canny, hed): from
    path, $GENLAB_COLOUR_CONTROLNET_WEIGHTS / $GENLAB_COLOUR_HED_CONTROLNET_WEIGHTS, or the shipped folder."""
    import json
    import os
    from pathlib import Path

    from diffusers import ControlNetModel

    from genlab.core.weights import file_sha256

    folder = Path(path or os.environ.get(ENV_VARS[kind]) or shipped_dir(kind))
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"No ControlNet in {folder.name} (expected config.json there): train one with "
            f"python -m genlab.colour.train_control --cond {kind}."
        )
    net = ControlNetModel.from_pretrained(folder, torch_dtype=torch.float32, use_safetensors=True).eval()
    net.requires_grad_(False).to(memory_format=torch.channels_last)
    card = folder.with_name(folder.name + ".json")
    t = json.loads(card.read_text())["training"] if card.is_file() else {}
    steps = t.get("total_steps", t.get("steps"))
    shards = sorted(folder.glob("*.safetensors"))
    sha = file_sha256(shards[0]) if shards else "?"
    shipped = shipped_dir(kind)
    where = "repo-shipped weights/" + shipped.name if folder.resolve() == shipped.resolve() else folder.name
    trained = f", {steps:,} training steps" if steps else ""
    return net, f"genlab colour ControlNet ({KINDS[kind]}), {where}{trained} (sha256 {sha})"
