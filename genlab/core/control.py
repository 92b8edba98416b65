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

from genlab.core.steps import Update

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


class _ModelThread:
    """One persistent thread that runs all model work, started on first use.

    PyTorch's OpenMP thread team is fastest for the first thread that uses it; teams of later threads make
    small operations slower (benchmarks/threads.py measures it). In the app no other thread runs torch, so
    every request's model work runs here, one job at a time (the app runs one heavy event at once).
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.busy = False  # a job is running (quick calls from the page may show something cheaper instead)

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="genlab-model", daemon=True)
                self.thread.start()
        self.jobs.put(job)

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            self.busy = True
            try:
                job()
            finally:
                self.busy = False

    def here(self) -> bool:
        return threading.current_thread() is self.thread


MODEL_THREAD = _ModelThread()
_local = threading.local()  # .emit: where the job running on this thread sends its items


def in_thread(
    work: Callable[[Callable[[Any], None]], T],
    ctl: Control,
    *,
    patience: float = 3.0,
    merge: Callable[[Any, Any], Any] | None = None,
) -> Generator[Any, None, T]:
    """Run `work(emit)` on the model thread and yield what it emits; the generator's return value is work's.

    For loops that take callbacks (diffusers pipelines), and to keep all model work on one thread. Called
    from the model thread itself, work runs at once and its items go to that job's consumer. A slow consumer
    gets the newest pending item (`merge(skipped, newer)` may carry something of the skipped one forward).
    If a yielded item is not followed by a pull within `patience` seconds (the client left, so Gradio no
    longer resumes us), or this generator is closed, the request is abandoned: work sees `ctl.halted()`.
    """
    outer = getattr(_local, "emit", None)
    if outer is not None and MODEL_THREAD.here():
        return work(outer)
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

    def job() -> None:
        _local.emit = items.put
        try:
            result["value"] = work(items.put)
        except BaseException as e:  # handed to the consumer below
            result["error"] = e
        finally:
            _local.emit = None
        result["done"] = True
        items.put(_END)

    MODEL_THREAD.submit(job)
    threading.Thread(target=watch, daemon=True).start()
    try:
        while (item := _newest(items, merge)) is not _END:
            pending_since[0] = time.monotonic()
            yield item
            pending_since[0] = None
    finally:  # also when the consumer closes us (GeneratorExit)
        if "done" not in result:
            ctl.abandon()
    if "error" in result:
        raise result["error"]
    return result["value"]


def on_model_thread(
    steps: Iterator[Any], ctl: Control, *, merge: Callable[[Any, Any], Any] | None = None
) -> Iterator[Any]:
    """Drive a technique's run() generator on the model thread; yield its items here (the last in full)."""

    def work(emit):
        last = None
        for item in steps:
            if last is not None:
                emit(last)
            last = item
        return last

    final = yield from in_thread(work, ctl, merge=merge)
    yield final


def model_call(fn: Callable[[], T]) -> T:
    """fn() run on the model thread (for quick model calls outside a technique's run)."""
    return returned(in_thread(lambda emit: fn(), Control()))


def returned(steps: Generator[Any, None, T]) -> T:
    """Run a generator to its end; its return value (not its last item)."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def shifted(steps: Generator[Any, None, T], before: int, total: int, desc: str | None = None):
    """Re-yield a sub-run's Updates as part of a longer run (done + before, of total; desc replaced when given);
    return the sub-run's value."""
    while True:
        try:
            u = next(steps)
        except StopIteration as end:
            return end.value
        yield Update(u.done + before, total, desc or u.desc, u.preview, u.data)


def _newest(items: queue.Queue, merge: Callable[[Any, Any], Any] | None) -> Any:
    """Block for one item, then skip to the newest queued one (the end marker always wins)."""
    item = items.get()
    while item is not _END:
        try:
            nxt = items.get_nowait()
        except queue.Empty:
            break
        item = nxt if merge is None or nxt is _END else merge(item, nxt)
    return item


_END = object()


def drain(steps: Iterator[Any]) -> Any:
    """Run a technique's generator to the end; its last item (the result)."""
    last = None
    for item in steps:
        last = item
    return last
