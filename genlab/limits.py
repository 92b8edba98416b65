"""Per-request limits shared by the heavy techniques: a work budget checked before starting, a deadline inside loops.

A public demo is open to anyone, and API callers skip the UI's slider bounds; these keep one request from
holding the CPU for hours. Both can be raised by whoever runs the app (environment variables below).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

# Work is counted in pixel-iterations: output pixels x optimiser or denoising steps (x images for a batch).
MAX_WORK = float(os.environ.get("GENLAB_MAX_WORK", 120e6))  # ~100 L-BFGS iterations at 1024x1024, ~6 min here
MAX_SECONDS = float(os.environ.get("GENLAB_MAX_SECONDS", 600))  # per request, checked at every step


def check_work(work: float, what: str, hint: str) -> None:
    """Refuse a request whose planned work exceeds MAX_WORK, before anything runs."""
    if work > MAX_WORK:
        raise ValueError(
            f"This request is {work / 1e6:,.0f} M pixel-steps ({what}); one request may use at most "
            f"{MAX_WORK / 1e6:,.0f} M. {hint}"
        )


class Deadline:
    """Wall-clock limit for one request; `expired()` is polled inside the loops (with the Stop flag)."""

    def __init__(self, seconds: float | None = None):
        self.seconds = MAX_SECONDS if seconds is None else float(seconds)
        self.start = time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() - self.start > self.seconds

    def __call__(self) -> bool:
        return self.expired()


def tune_malloc(*, mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """glibc only: serve allocations of 1 MB and more with mmap (returned to the OS when freed) and cap the
    malloc arenas, so the freed buffers of a large request do not stay resident as fragmented heap.
    Measured (benchmarks/load.py): RSS between 1024 px runs 2.0 GB -> 1.3 GB. Environment settings
    (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX) win. True when applied."""
    if sys.platform != "linux" or os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl)
        return False
    m_mmap_threshold, m_arena_max = -3, -8  # <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, mmap_threshold)) and bool(libc.mallopt(m_arena_max, arenas))
