"""Per-request limits shared by the heavy techniques: a work budget checked before starting, a deadline inside loops.

A public demo is open to anyone, and API callers skip the UI's slider bounds; these keep one request from
holding the CPU for hours. Both can be raised by whoever runs the app (environment variables below).
"""

from __future__ import annotations

import os
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
