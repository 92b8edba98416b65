"""Process memory: glibc malloc settings so the freed buffers of a large request go back to the OS.

Policies (GENLAB_MALLOC; measured in docs/measurements.md with `python benchmarks/malloc.py`):
  "trim" (default)  cap the malloc arenas at 2 and call malloc_trim(0) after every request: the heap's free
                    pages go back to the OS once per request, while allocations inside a request reuse the heap
  "mmap"            also serve every allocation of >= 1 MB with its own mmap (returned when freed): bounded too,
                    but each large activation is a fresh mapping, page-faulted again on every use
  "off"             glibc's defaults
"""

from __future__ import annotations

import ctypes
import os
import sys

POLICIES = ("trim", "mmap", "off")
_LIBC = None  # set when a policy that trims is active


def _glibc():
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc has it; musl does not)
        return libc
    except (OSError, AttributeError):
        return None


def tune_malloc(policy: str | None = None, *, mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Apply a malloc policy (default: $GENLAB_MALLOC or "trim"); True when applied. glibc only; the
    environment's own MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX win (nothing is applied then)."""
    global _LIBC
    policy = policy or os.environ.get("GENLAB_MALLOC", "trim")
    if policy not in POLICIES:
        raise ValueError(f"GENLAB_MALLOC must be one of {', '.join(POLICIES)} (got {policy!r}).")
    if policy == "off" or os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    m_mmap_threshold, m_arena_max = -3, -8  # <malloc.h>
    ok = bool(libc.mallopt(m_arena_max, arenas))
    if policy == "mmap":
        ok = ok and bool(libc.mallopt(m_mmap_threshold, mmap_threshold))
    _LIBC = libc if policy == "trim" else None
    return ok


def after_request() -> None:
    """Give the heap's free pages back to the OS (policy "trim"); a no-op otherwise. Takes a few ms."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
