"""Device and dtype selection shared by every technique."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def tune_threads(spincount: int = 10_000) -> bool:
    """Before torch loads: let idle OpenMP threads spin only briefly (GOMP_SPINCOUNT) before they sleep.

    With the default spin, two threads that share a core with any other busy process spend most of their time
    spinning against it; a short spin keeps the idle-machine speed. An existing setting wins. True if set.
    """
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(spincount)
    return True


def device() -> torch.device:
    """CUDA when present (unless GENLAB_DEVICE says otherwise), else CPU."""
    import torch

    wanted = os.environ.get("GENLAB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """Half precision on CUDA (bf16 where supported), float32 on CPU (bf16 is slow on CPU)."""
    import torch

    dev = dev or device()
    if dev.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def zero_gpu(fn: Callable[..., T], seconds: int) -> Callable[..., T]:
    """fn marked `spaces.GPU(duration=seconds)` when the `spaces` package is importable (Hugging Face ZeroGPU
    attaches a GPU only inside such calls, for at most `seconds`); elsewhere fn itself. Off with GENLAB_ZEROGPU=0."""
    if os.environ.get("GENLAB_ZEROGPU", "1") == "0":
        return fn
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=int(seconds))(fn)


def zero_gpu_active() -> bool:
    """True when functions are being marked for ZeroGPU (the `spaces` package is importable and not switched off)."""
    if os.environ.get("GENLAB_ZEROGPU", "1") == "0":
        return False
    import importlib.util

    return importlib.util.find_spec("spaces") is not None


def cpu_generator(seed: int) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise on every device."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed))
