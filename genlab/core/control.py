"""One request's control: the Stop flag, a wall-clock deadline and a work budget, shared by everything the
request runs (a grid of five generations or a comparison of three models spends one budget and stops on one
Stop). Every technique's run() polls `halted()` between steps.

A public demo is open to anyone, and API callers skip the UI's slider bounds: the budget (checked before work
starts) and the deadline keep one request from holding the CPU for hours. Whoever runs the app can raise both.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# Work is counted in pixel-steps: output pixels x optimiser or denoising steps (x images for a batch).
MAX_WORK = float(os.environ.get("GENLAB_MAX_WORK", 120e6))
MAX_SECONDS = float(os.environ.get("GENLAB_MAX_SECONDS", 600))


class StopFlag:
    """A Stop button's flag (kept per browser session in gr.State); each new run clears it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __deepcopy__(self, memo):  # gr.State copies its initial value per session
        return StopFlag()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:  # not __call__: gr.State would take a callable value for a value factory
        return self._event.is_set()


class Control:
    """Stop flag + deadline + work budget for one request."""

    def __init__(self, stop: StopFlag | None = None, *, seconds: float | None = None, budget: float | None = None):
        self.stop = stop or StopFlag()
        self.seconds = MAX_SECONDS if seconds is None else float(seconds)
        self.budget = MAX_WORK if budget is None else float(budget)
        self.spent = 0.0
        self.start = time.monotonic()
        self.reason = ""  # "", "stop" or "deadline": why the request ended early (sticky)
        self._abandoned = threading.Event()

    def charge(self, work: float, what: str, hint: str) -> None:
        """Spend `work` pixel-steps of the budget, before running them; ValueError (nothing spent) if over."""
        if self.spent + work > self.budget:
            raise ValueError(
                f"This request is {(self.spent + work) / 1e6:,.0f} M pixel-steps ({what}); one request may use at "
                f"most {self.budget / 1e6:,.0f} M. {hint}"
            )
        self.spent += work

    def abandon(self) -> None:
        """Nobody is listening any more (the client left): stop at the next step."""
        self._abandoned.set()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def halted(self) -> str:
        """ "" while the request may go on; else why it must stop ("stop" or "deadline"), and it stays so."""
        if not self.reason:
            if self.stop.is_set() or self._abandoned.is_set():
                self.reason = "stop"
            elif self.elapsed() > self.seconds:
                self.reason = "deadline"
        return self.reason

    def note(self) -> str:
        """A status suffix saying why the run ended early, or ""."""
        return {"stop": " (stopped)", "deadline": f" (stopped at the {self.seconds:.0f} s limit per request)"}.get(
            self.reason, ""
        )


def in_thread(
    work: Callable[[Callable[[Any], None]], T], ctl: Control, *, patience: float = 3.0
) -> Generator[Any, None, T]:
    """Run `work(emit)` in a worker thread and yield what it emits; the generator's return value is work's.

    For libraries whose loops take callbacks (diffusers pipelines): the caller's loop stays a generator.
    Only the newest pending item is yielded (a slow consumer skips stale ones). If a yielded item is not
    followed by a pull within `patience` seconds (the client left, so Gradio no longer resumes us), or this
    generator is closed, the request is abandoned and work sees `ctl.halted()` at its next step.
    """
    items: queue.Queue = queue.Queue()
    result: dict[str, Any] = {}
    pending_since: list[float | None] = [None]  # set while a yielded item waits for the consumer to pull again

    def watch() -> None:
        while "done" not in result:
            since = pending_since[0]
            if since is not None and time.monotonic() - since > patience:
                ctl.abandon()
                return
            time.sleep(0.2)

    def target() -> None:
        try:
            result["value"] = work(items.put)
        except BaseException as e:  # handed to the consumer below
            result["error"] = e
        result["done"] = True
        items.put(_END)

    threading.Thread(target=target, daemon=True).start()
    threading.Thread(target=watch, daemon=True).start()
    try:
        while (item := _newest(items)) is not _END:
            pending_since[0] = time.monotonic()
            yield item
            pending_since[0] = None
    finally:  # also when the consumer closes us (GeneratorExit)
        if "done" not in result:
            ctl.abandon()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _newest(items: queue.Queue) -> Any:
    """Block for one item, then skip to the newest queued one (the end marker always wins)."""
    item = items.get()
    while item is not _END:
        try:
            item = items.get_nowait()
        except queue.Empty:
            break
    return item


_END = object()


def drain(steps: Iterator[Any]) -> Any:
    """Run a technique's generator to the end; its last item (the result)."""
    last = None
    for item in steps:
        last = item
    return last
