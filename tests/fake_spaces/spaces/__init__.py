"""A stand-in for Hugging Face's `spaces` package, for tests: `GPU(duration=…)` marks a function the way ZeroGPU's
does (functools.wraps, generators stay generators) and, when $FAKE_SPACES_LOG names a file, logs each call to it
as a JSON line {"fn": name, "duration": seconds}."""

from __future__ import annotations

import functools
import inspect
import json
import os


def _log(name: str, duration: int) -> None:
    path = os.environ.get("FAKE_SPACES_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"fn": name, "duration": duration}) + "\n")


def GPU(fn=None, *, duration: int = 60):
    def mark(f):
        if inspect.isgeneratorfunction(f):

            @functools.wraps(f)
            def wrapped(*args, **kwargs):
                _log(f.__name__, duration)
                yield from f(*args, **kwargs)
        else:

            @functools.wraps(f)
            def wrapped(*args, **kwargs):
                _log(f.__name__, duration)
                return f(*args, **kwargs)

        wrapped.zerogpu_duration = duration
        return wrapped

    return mark(fn) if callable(fn) else mark


def gradio_auto_wrap(fn):
    """Gradio calls this on every event function when SPACE_ID is set (the real one routes ZeroGPU errors)."""
    return fn
