"""How well a taught adapter works, measured: does the trigger prompt draw the user's pictures, and does the
class prompt stay as it was?

Distance between two pictures: the perceptual distance of Zhang et al. 2018 (LPIPS) in its unlearned form —
ImageNet VGG16 activations at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 (genlab.models.vgg), each
unit-normalised over channels, squared differences averaged over space and summed over the five layers — on
128 px pictures. (The `lpips` package's learned layer weights belong to torchvision's VGG16, a different
training run from the VGG16 genlab ships, so they are not used.)

* closeness: the mean over samples of the distance to the nearest of the user's pictures, compared with how far
  the user's pictures are from each other (each to its nearest other one): `gap_closed` is the share of the
  distance between the base model's samples and that spread which the adapter removes;
* drift: the mean distance between class-prompt samples with and without the adapter at the same seed,
  compared with the distance between two seeds of the base model (what "a different picture" means).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
SIDE = 128


@torch.no_grad()
def features(images: list[Image.Image]) -> list[torch.Tensor]:
    """Per layer [N,C,h,w], unit length over C."""
    import numpy as np

    from genlab.models import vgg

    net, _ = vgg.MODELS.get("default")
    x = np.stack([np.asarray(im.convert("RGB").resize((SIDE, SIDE), Image.BICUBIC)) for im in images])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0  # [N,3,128,128] in [0,1]
    f = net(x, set(LAYERS))
    return [F.normalize(f[k].float(), dim=1) for k in LAYERS]


def distances(a: list[Image.Image], b: list[Image.Image]) -> torch.Tensor:
    """[len(a), len(b)] perceptual distances."""
    fa, fb = features(a), features(b)
    d = torch.zeros(len(a), len(b))
    for x, y in zip(fa, fb):
        for i in range(len(a)):
            d[i] += (x[i : i + 1] - y).pow(2).sum(1).mean((1, 2))
    return d


def nearest(samples: list[Image.Image], references: list[Image.Image]) -> float:
    """Mean over samples of the distance to the nearest reference picture."""
    return float(distances(samples, references).min(1).values.mean())


def spread(references: list[Image.Image]) -> float:
    """Mean distance from each reference picture to its nearest other one."""
    d = distances(references, references) + torch.eye(len(references)) * 1e9
    return float(d.min(1).values.mean())


def paired(a: list[Image.Image], b: list[Image.Image]) -> float:
    """Mean distance between a[i] and b[i]."""
    return float(torch.stack([distances([x], [y])[0, 0] for x, y in zip(a, b)]).mean())


def gap_closed(base: float, taught: float, floor: float) -> float:
    """The share of (base - floor) that taught removes: 0 = no closer than the base model, 1 = as close as the
    user's pictures are to each other."""
    return (base - taught) / max(base - floor, 1e-9)
