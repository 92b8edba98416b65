"""History tab: every picture this visit made, in any tab, newest first; each PNG carries its recipe (drop it into
its tab's recipe box to restore the settings and make it again), and all of them download as one zip."""

from __future__ import annotations

import gradio as gr

from genlab.core import history
from genlab.core.outputs import output_path
from genlab.core.recipes import read_recipe
from genlab.ui.wiring import as_message

NAME = "history"
TITLE = "History"


def _caption(path) -> str:
    try:
        r = read_recipe(path)
    except ValueError:
        return path.name
    seed = f" · seed {r['seed']}" if r.get("seed") is not None else ""
    return f"{r['technique']}{seed}"


def _show(request: gr.Request):
    items = history.pictures(history.session_of(request))
    info = (
        f"{len(items)} picture(s) this visit"
        if items
        else "Nothing yet: the pictures you make in any tab collect here."
    )
    return [(str(p), _caption(p)) for p in items], info


def _zip(request: gr.Request):
    try:
        return str(history.zip_all(history.session_of(request), output_path("genlab", ".zip")))
    except ValueError as e:
        raise as_message(e, "history:zip") from None


def _recipe(evt: gr.SelectData, request: gr.Request):
    items = history.pictures(history.session_of(request))
    if not 0 <= evt.index < len(items):
        return None
    try:
        return read_recipe(items[evt.index])
    except ValueError:
        return None


def build(tab: gr.Tab) -> None:
    gr.Markdown(
        "Every picture you made during this visit, newest first. Each PNG carries its **recipe**: click one to read "
        "it; download it and drop it into its tab's *Drop a genlab PNG* box to restore the settings and make it again."
    )
    with gr.Row():
        refresh = gr.Button("Refresh", variant="secondary")
        download = gr.Button("Download all (zip)", variant="secondary")
    info = gr.Markdown()
    gallery = gr.Gallery(label="This visit", columns=8, height=420, object_fit="contain")
    with gr.Row():
        recipe = gr.JSON(label="Recipe of the picture you clicked")
        archive = gr.File(label="All pictures (zip, each PNG with its recipe)")
    for event in (tab.select, refresh.click):
        event(_show, None, [gallery, info], api_visibility="private", queue=False)
    download.click(_zip, None, archive, api_visibility="private")
    gallery.select(_recipe, None, recipe, api_visibility="private", queue=False)
