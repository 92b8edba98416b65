"""Process memory: glibc malloc settings so the freed buffers of a large request go back to the OS."""

from __future__ import annotations

import ctypes
import os
import sys


def tune_malloc(*, mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """glibc only: serve allocations of `mmap_threshold` bytes and more with mmap (returned to the OS when
    freed) and cap the malloc arenas, so a large request's freed activations do not stay resident as
    fragmented heap. Environment settings (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX) win. True when applied."""
    if sys.platform != "linux" or os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl)
        return False
    m_mmap_threshold, m_arena_max = -3, -8  # <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, mmap_threshold)) and bool(libc.mallopt(m_arena_max, arenas))
