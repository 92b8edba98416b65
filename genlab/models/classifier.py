"""A Fashion-MNIST classifier, and the metrics it makes possible for generated images.

Its penultimate features give a Fréchet distance ("FID with a domain classifier", after Heusel et al.
2017) and a kernel inception distance (KID, Bińkowski et al. 2018); its predictions give class coverage
and the share of conditional samples judged as the requested class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genlab.core.weights import LazyMap, WeightSpec, load_module, repo_weights


@dataclass(frozen=True)
class ClassifierConfig:
    width: int = 32  # channels of the first conv block (the second has 2x)
    features: int = 128  # penultimate feature size used for FID/KID
    classes: int = 10  # number of classes


class Classifier(nn.Module):
    """[B,1,28,28] in [0,1] -> logits [B,classes]; .features() gives [B,features]."""

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2 * w * 49, cfg.features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(cfg.features, cfg.classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


SPEC = WeightSpec(
    name="Fashion-MNIST classifier", env_var="GENLAB_CLASSIFIER_WEIGHTS", offline=repo_weights("classifier.safetensors")
)


def load(path: str | None = None) -> tuple[Classifier, str]:
    """(classifier in eval mode on CPU, weights label)."""
    return load_module(SPEC, lambda cfg: Classifier(ClassifierConfig(**cfg)), path=path)


MODELS = LazyMap(lambda key: load(None if key == "default" else key))  # "default" or a weights file


@torch.no_grad()
def embed(model: Classifier, images: torch.Tensor, *, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(features [N,F] float64, predicted class [N]) for images [N,1,28,28] in [0,1]."""
    feats, preds = [], []
    for i in range(0, len(images), batch):
        f = model.features(images[i : i + batch].float())
        feats.append(f.double().numpy())
        preds.append(model.head(f).argmax(1).numpy())
    return np.concatenate(feats), np.concatenate(preds)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))  (Heusel et al. 2017, eq. 6)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(sa @ sb))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa + sb - 2 * covmean))


def kernel_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 10, size: int = 1000, seed: int = 0) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x,y)=(x.y/d+1)^3 (Bińkowski et al. 2018)."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    size = min(size, len(a), len(b))
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        m = size
        total += (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total -= 2 * kxy.mean()
    return float(total / subsets)


def coverage(preds: np.ndarray, classes: int = 10) -> np.ndarray:
    """Share of each class among predictions [classes], sums to 1."""
    return np.bincount(preds, minlength=classes) / max(len(preds), 1)
