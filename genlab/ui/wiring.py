"""The one adapter between Gradio events and a technique's run(): settings parsed from the controls, one
request Control (Stop, deadline, budget), progress, live updates, errors as short messages, recipes restored.

Each technique's ui.py lays out components and calls `wire` and `recipe_drop`; nothing else.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr

from genlab.core.control import Control, StopFlag, drain, on_model_thread
from genlab.core.outputs import save_gif, save_pngs
from genlab.core.recipes import read_recipe
from genlab.core.steps import Result, Update

log = logging.getLogger("genlab")

HEAVY = "genlab-heavy"  # concurrency_id shared by every event that runs a model
HEAVY_LIMIT = 1  # runs at once across all heavy events (2 CPU cores)
LIVE_EVERY = 0.25  # seconds between live updates sent to the page (the progress bar moves at every step)
KEEP_IN_TOUCH = 1.0  # seconds at most between yields to Gradio, which acts on a cancel only when we yield


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


def stop_button() -> tuple[gr.State, gr.Button]:
    """A per-session Stop flag and the button that sets it (shown as inactive until a run starts)."""
    flag = gr.State(StopFlag())
    btn = gr.Button("Stop", variant="stop")
    btn.click(lambda f: f.set(), inputs=flag, queue=False, api_visibility="private")
    return flag, btn


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


def wire(
    event: Callable,
    technique: ModuleType,
    action: str | None,
    components: dict[str, Any],
    outputs: list[Any],
    render: Callable[[Result], tuple],
    *,
    live: Callable[[Update], tuple] | None = None,
    stop: gr.State | None = None,
    api_name: str | None = None,
    fixed: dict[str, Any] | None = None,
) -> None:
    """Connect `event` (e.g. button.click) to technique.run.

    components: name -> component, in the API's positional order; names that are Settings fields become
    settings, the others are the run's inputs (images). render maps the Result to the outputs; live maps an
    Update to them, or to None when it has nothing new to show (the progress bar moves anyway). The API
    parameters are named after the components.
    """
    names = list(components)
    field_names = set(technique.Settings.specs())
    fixed = {**(fixed or {}), **({"action": action} if action else {})}
    where = f"/{api_name}" if api_name else f"{technique.NAME}:{action}"

    def start(values: tuple, flag: StopFlag | None) -> tuple[Any, dict, Control]:
        given = dict(zip(names, values))
        settings = technique.Settings.parse({**fixed, **{k: v for k, v in given.items() if k in field_names}})
        inputs = {k: v for k, v in given.items() if k not in field_names}
        if flag is not None:
            flag.clear()
        return settings, inputs, Control(flag)

    def items(*args):
        """technique.run's items, with progress reported; errors become short messages."""
        *values, progress = args
        flag = values.pop() if stop is not None else None
        try:
            settings, inputs, ctl = start(tuple(values), flag)
            for item in on_model_thread(technique.run(settings, inputs, ctl), ctl, merge=keep_preview):
                if not isinstance(item, Result):
                    progress((item.done, item.total), desc=item.desc)
                yield item
        except Exception as e:
            raise as_message(e, where) from None

    def stream(*args):
        last, idle = 0.0, tuple(gr.update() for _ in outputs)
        for item in items(*args):
            if isinstance(item, Result):
                yield render(item)
                continue
            now = time.monotonic()
            shown = live(item) if now - last >= LIVE_EVERY else None  # None: nothing new worth sending
            if shown is None and now - last >= KEEP_IN_TOUCH:
                shown = idle  # an empty update: lets Gradio notice a cancel or a closed page between steps
            if shown is not None:
                last = now
                yield shown

    def call(*args):
        result = drain(items(*args))
        try:
            return render(result)
        except Exception as e:
            raise as_message(e, where) from None

    fn = stream if live is not None else call
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    if stop is not None:
        params.append(inspect.Parameter("stop_flag", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    params.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
    fn.__signature__ = inspect.Signature(params)  # the API's parameter names
    fn.__name__ = api_name or f"{technique.NAME}_{action}"
    fn.__doc__ = (technique.run.__doc__ or "").strip().split("\n")[0]
    event(
        fn,
        inputs=[*components.values(), *([stop] if stop is not None else [])],
        outputs=outputs,
        api_name=api_name,
        api_visibility="public" if api_name else "private",
        concurrency_id=HEAVY,
    )


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
        label="Drop a genlab PNG here to restore its settings", file_types=[".png"], file_count="single", height=90
    )
    names = list(components)
    drop.upload(
        lambda p: restore_updates(technique, names, p, actions),
        drop,
        list(components.values()),
        api_visibility="private",
    )
    return drop
