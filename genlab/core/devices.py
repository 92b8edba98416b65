"""Device and dtype selection shared by every technique."""

from __future__ import annotations

import os

import torch


def device() -> torch.device:
    """CUDA when present (unless GENLAB_DEVICE says otherwise), else CPU."""
    wanted = os.environ.get("GENLAB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """Half precision on CUDA (bf16 where supported), float32 on CPU (bf16 is slow on CPU)."""
    dev = dev or device()
    if dev.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def cpu_generator(seed: int) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise on every device."""
    return torch.Generator("cpu").manual_seed(int(seed))
