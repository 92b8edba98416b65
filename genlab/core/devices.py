"""Device and dtype selection shared by every technique."""

from __future__ import annotations

import contextlib
import functools
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
    """Weights' dtype: half precision on CUDA (bf16 where supported), float32 on CPU (where autocast() may run
    the matmuls in bf16)."""
    import torch

    dev = dev or device()
    if dev.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


PRECISION_VAR = "GENLAB_PRECISION"  # "fp32" turns CPU bf16 autocast off; "bf16" forces it on


@functools.cache
def _cpu_has_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # oneDNN: AVX-512 BF16 or AMX in this CPU


def cpu_bf16() -> bool:
    """True when CPU inference runs under bf16 autocast: by default where the CPU has native BF16 instructions
    (elsewhere bf16 is emulated and slower than float32); GENLAB_PRECISION=fp32 or bf16 decides instead."""
    wanted = os.environ.get(PRECISION_VAR, "").strip().lower()
    if wanted not in ("", "fp32", "bf16"):
        raise ValueError(f"{PRECISION_VAR} must be fp32 or bf16 (got {wanted!r}).")
    return wanted == "bf16" or (wanted == "" and _cpu_has_bf16())


def autocast(dev: torch.device):
    """torch.autocast to bf16 for a module on the CPU when cpu_bf16(); on other devices the weights already are
    half precision (dtype()), so nothing. Matmuls and convolutions run in bf16, reductions and norms in float32."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if _bf16_on(dev) else contextlib.nullcontext()


def _bf16_on(dev: torch.device) -> bool:
    return dev.type == "cpu" and cpu_bf16()


def precision_label(dev: torch.device) -> str:
    """How inference on dev computes, for the weights line: 'bf16 autocast' or the weights' dtype."""
    return "bf16 autocast" if _bf16_on(dev) else str(dtype(dev)).removeprefix("torch.")


def precision_on(dev: torch.device) -> str:
    """precision_label with the device, as the weights and info lines show it: 'bf16 autocast on cpu'."""
    return f"{precision_label(dev)} on {dev.type}"


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
