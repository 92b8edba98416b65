"""The one adapter between Gradio events and a technique's run(): settings parsed from the controls, one
request Control (Stop, deadline, budget), progress, live updates, errors as short messages, recipes restored.

Each technique's ui.py lays out components and calls `wire` and `recipe_drop`; nothing else.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr

from genlab.core import history
from genlab.core.control import MAX_SECONDS, Control, StopFlag, drain, on_model_thread
from genlab.core.devices import zero_gpu, zero_gpu_active
from genlab.core.memory import after_request
from genlab.core.outputs import save_gif, save_pngs
from genlab.core.recipes import read_recipe
from genlab.core.steps import Result, Update

log = logging.getLogger("genlab")

HEAVY = "genlab-heavy"  # concurrency_id shared by every event that runs a model
HEAVY_LIMIT = 1  # runs at once across all heavy events (2 CPU cores)
LIVE_EVERY = 0.25  # seconds between live updates sent to the page (the progress bar moves at every step)
KEEP_IN_TOUCH = 1.0  # seconds at most between yields to Gradio, which acts on a cancel only when we yield
GPU_MARGIN = 5  # seconds of a ZeroGPU call kept for saving the result after the run's deadline
OPTIONAL_INPUTS = {
    "weights",
    "adapter",
    "lora_scale",
}  # trailing inputs an API caller may leave out (None: the default)


def as_message(e: Exception, where: str) -> gr.Error:
    """A short message for the page. genlab's ValueErrors say what was wrong and what is allowed: logged as one
    line. Anything else is logged with its traceback and reported without its internals (launch uses
    show_error=False, so raw exception text never reaches a page)."""
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, ValueError):
        log.info("%s: refused: %s", where, e)
        return gr.Error(str(e), print_exception=False)
    if isinstance(e, MemoryError):
        log.warning("%s: out of memory", where)
        return gr.Error(
            "Out of memory for this request: use a smaller size, fewer steps or a smaller batch.", print_exception=False
        )
    log.exception("%s: unexpected error", where)
    return gr.Error(
        f"genlab hit an internal error ({type(e).__name__}) and did not finish this request; the server log has details.",
        print_exception=False,
    )


@dataclass
class Stop:
    """A per-session Stop flag and its button."""

    flag: gr.State
    button: gr.Button


def stop_button() -> Stop:
    flag = gr.State(StopFlag())
    btn = gr.Button("Stop", variant="secondary")  # grey while nothing runs; red (variant "stop") during a run
    btn.click(lambda f: f.set(), inputs=flag, queue=False, api_visibility="private")
    return Stop(flag, btn)


def keep_preview(skipped: Any, newer: Any) -> Any:
    """When a slow page skips an update, its preview picture is carried to the newer one."""
    if (
        isinstance(skipped, Update)
        and isinstance(newer, Update)
        and newer.preview is None
        and skipped.preview is not None
    ):
        newer.preview = skipped.preview
    return newer


def gallery(result: Result, stem: str) -> list[tuple[str, str]]:
    """The result's images saved as PNGs with their recipes, paired with their captions."""
    paths = save_pngs(result.images, result.recipes, stem)
    return list(zip(paths, result.captions or [""] * len(paths)))


def gallery_and_info(stem: str) -> Callable[[Result], tuple]:
    """Render: (gallery of the saved images, status line)."""
    return lambda r: (gallery(r, stem), r.info)


def image_and_info(stem: str) -> Callable[[Result], tuple]:
    """Render: (the first image saved as a PNG, status line)."""
    return lambda r: (save_pngs(r.images[:1], r.recipes[:1], stem)[0], r.info)


def strip_and_gif(stem: str) -> Callable[[Result], tuple]:
    """Render: (the strip saved as a PNG, a GIF of result.data["frames"])."""
    return lambda r: (save_pngs(r.images[:1], r.recipes[:1], stem)[0], save_gif(r.data["frames"], r.recipes[0]))


class TimeLeft:
    """An estimate of the time left from the pace since the first step (the first step includes loading)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None

    def say(self, done: int, total: int) -> str:
        """ " · about N s left" once a few seconds of steps have been seen; "" before, and at the end."""
        now = time.monotonic()
        if done <= 0 or total <= 1 or done >= total:
            return ""
        if self.first is None:
            self.first = (now, done)
            return ""
        t0, d0 = self.first
        if now - t0 < 2.0 or done <= d0:
            return ""
        left = (now - t0) / (done - d0) * (total - done)
        return f" · about {left:.0f} s left" if left < 120 else f" · about {left / 60:.0f} min left"


class Endpoint:
    """One event's function: settings parsed from the controls, technique.run on the model thread with one
    request Control, progress reported, live updates throttled, errors as short messages."""

    def __init__(self, technique: ModuleType, action: str | None, names: list[str], n_outputs: int, render, live, stop):
        self.technique, self.names, self.render, self.live, self.stop = technique, names, render, live, stop
        self.fields = set(technique.Settings.specs())
        self.fixed = {"action": action} if action else {}
        self.idle = tuple(gr.update() for _ in range(n_outputs))  # an update that changes nothing
        self.where = f"{technique.NAME}:{action}"
        # On ZeroGPU the GPU is held for technique.GPU_SECONDS at most: the run's deadline ends it a little
        # earlier, so it stops with its latest picture instead of being cut off.
        self.gpu_seconds = int(technique.GPU_SECONDS)
        self.seconds = min(MAX_SECONDS, self.gpu_seconds - GPU_MARGIN) if zero_gpu_active() else None

    def items(self, *args):
        """technique.run's items, with progress reported; errors become short messages."""
        *values, progress = args
        flag = values.pop() if self.stop is not None else None
        try:
            given = {k: v for k, v in zip(self.names, values) if not (k in OPTIONAL_INPUTS and v is None)}
            settings = self.technique.Settings.parse(
                {**self.fixed, **{k: v for k, v in given.items() if k in self.fields}}
            )
            inputs = {k: v for k, v in given.items() if k not in self.fields}
            if flag is not None:
                flag.clear()
            ctl = Control(flag, seconds=self.seconds)
            clock = TimeLeft()
            for item in on_model_thread(self.technique.run(settings, inputs, ctl), ctl, merge=keep_preview):
                if not isinstance(item, Result):
                    item.desc += clock.say(item.done, item.total)
                    progress((item.done, item.total), desc=item.desc)
                yield item
        except Exception as e:
            raise as_message(e, self.where) from None
        finally:
            after_request()  # the request's freed buffers go back to the OS (genlab.core.memory)

    def stream(self, *args, session: str | None = None):
        last = 0.0
        for item in self.items(*args):
            if isinstance(item, Result):
                with history.session(session):  # the PNGs it saves join this visitor's History
                    yield self.render(item)
                continue
            now = time.monotonic()
            shown = self.live(item) if now - last >= LIVE_EVERY else None  # None: nothing new worth sending
            if shown is None and now - last >= KEEP_IN_TOUCH:
                shown = self.idle  # lets Gradio notice a cancel or a closed page between steps
            if shown is not None:
                last = now
                yield shown

    def call(self, *args, session: str | None = None):
        result = drain(self.items(*args))
        try:
            with history.session(session):
                return self.render(result)
        except Exception as e:
            raise as_message(e, self.where) from None

    def function(self, name: str, doc: str) -> Callable:
        """A plain function Gradio can inspect: a generator when live, its API parameters named after the controls."""
        if self.live is not None:

            def fn(*args):
                *args, request = args
                yield from self.stream(*args, session=history.session_of(request))
        else:

            def fn(*args):
                *args, request = args
                return self.call(*args, session=history.session_of(request))

        # optional inputs at the end (e.g. "weights") default to None, so API callers may leave them out
        n_req = len(self.names)
        while n_req and self.names[n_req - 1] in OPTIONAL_INPUTS:
            n_req -= 1
        params = [
            inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, **({} if i < n_req else {"default": None}))
            for i, n in enumerate(self.names)
        ]
        if self.stop is not None:
            params.append(inspect.Parameter("stop_flag", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None))
        params.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
        params.append(
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
        )
        fn.__signature__ = inspect.Signature(params)
        fn.__annotations__ = {"request": gr.Request}  # Gradio passes the request (its session: the History tab)
        fn.__name__, fn.__doc__ = name, doc
        return zero_gpu(fn, self.gpu_seconds)


def wire(
    event: Callable,
    technique: ModuleType,
    action: str | None,
    components: dict[str, Any],
    outputs: list[Any],
    render: Callable[[Result], tuple],
    *,
    live: Callable[[Update], tuple | None] | None = None,
    stop: Stop | None = None,
    api_name: str | None = None,
) -> None:
    """Connect `event` (e.g. button.click) to technique.run.

    components: name -> component, in the API's positional order; names that are Settings fields become
    settings, the others are the run's inputs (images). render maps the Result to the outputs; live maps an
    Update to them, or to None when it has nothing new to show (the progress bar moves anyway).
    """
    endpoint = Endpoint(technique, action, list(components), len(outputs), render, live, stop)
    doc = (technique.run.__doc__ or "").strip().split("\n")[0]
    if stop is not None:  # Stop turns red while this runs
        event(lambda: gr.update(variant="stop"), None, stop.button, queue=False, api_visibility="private")
    handle = event(
        endpoint.function(api_name or f"{technique.NAME}_{action}", doc),
        inputs=[*components.values(), *([stop.flag] if stop is not None else [])],
        outputs=outputs,
        api_name=api_name,
        api_visibility="public" if api_name else "private",
        concurrency_id=HEAVY,
    )
    if stop is not None:  # ... and grey again when it ends, however it ends
        handle.then(lambda: gr.update(variant="secondary"), None, stop.button, queue=False, api_visibility="private")


def restore_updates(
    technique: ModuleType, names: list[str], path: str | None, actions: tuple[str, ...] | None = None
) -> list:
    """gr.update per named control from a dropped genlab PNG's recipe; gr.Error if it is another tab's."""
    if not path:
        return [gr.update() for _ in names]
    try:
        recipe = read_recipe(path)
    except ValueError as e:
        raise as_message(e, f"{technique.NAME}:restore") from None
    if recipe["technique"] != technique.NAME:
        raise gr.Error(f"That PNG was made by the {recipe['technique']} tab; drop it there.", print_exception=False)
    params = dict(recipe["params"])
    if actions and params.get("action") not in actions:
        raise gr.Error(f"That PNG was made by this tab's {params.get('action')} action.", print_exception=False)
    try:
        params = technique.Settings.parse(params).params()  # a recipe is checked like any other input
    except ValueError as e:
        raise as_message(e, f"{technique.NAME}:restore") from None
    gr.Info(f"Settings restored from {Path(path).name}.")
    return [gr.update(value=params[n]) if n in params else gr.update() for n in names]


def recipe_drop(
    technique: ModuleType, components: dict[str, Any], *, actions: tuple[str, ...] | None = None
) -> gr.File:
    """A file box: drop a genlab PNG made by this technique and the named controls take its settings."""
    drop = gr.File(
        label="Drop a genlab PNG here to restore its settings", file_types=[".png"], file_count="single", height=140
    )
    names = list(components)
    drop.upload(
        lambda p: restore_updates(technique, names, p, actions),
        drop,
        list(components.values()),
        api_visibility="private",
    )
    return drop
