"""Deep Dream tab: lays out the controls and wires them to genlab.techniques.deep_dream.run."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from genlab.core.outputs import save_pngs
from genlab.techniques import deep_dream as dd
from genlab.ui.components import EXAMPLES, VGG_NOTE, controls, picture_input
from genlab.ui.send import receive, send_buttons
from genlab.ui.wiring import gallery_and_info, recipe_drop, stop_button, wire

OCTAVE_COLOURS = dict(
    zip(map(str, range(1, 9)), ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"))
)
PHOTOS = ["chelsea.jpg", "astronaut.jpg", "coffee.jpg", "china.jpg", "grace_hopper.jpg"]


def objective_frame(history: list[dict], octaves: int) -> pd.DataFrame:
    """The objective per iteration, coloured by octave. Every planned octave has a row from the start (an empty
    one until it runs): the page's plot fixes its colour legend from the first data it is sent."""
    rows = [{"iteration": h["iteration"], "½·mean(a²)": h["objective"], "octave": str(h["octave"])} for h in history]
    seen = {h["octave"] for h in history}
    rows += [{"iteration": None, "½·mean(a²)": None, "octave": str(k)} for k in range(1, octaves + 1) if k not in seen]
    return pd.DataFrame(rows)


def _live(u):
    plot = objective_frame(u.data["history"], u.data["octaves"]) if u.preview is not None else gr.update()
    return (
        (u.preview if u.preview is not None else gr.update()),
        plot,
        f"**{u.done} / {u.total}** iterations · {u.desc}",
    )


def _done(r):
    return save_pngs(r.images, r.recipes, "dream")[0], objective_frame(r.data["history"], r.data["octaves"]), r.info


def build() -> None:
    S = dd.Settings
    gr.Markdown(
        "**Deep Dream** (Mordvintsev, Olah & Tyka 2015): instead of changing the network to fit the picture, "
        "change the *picture* to excite the network. Gradient ascent on the image makes the chosen VGG layer "
        "(or one of its channels) respond ever more strongly; shallow layers amplify strokes and textures, "
        "deeper ones eyes, fur and object parts. Octaves work small to large, so patterns appear at every scale."
    )
    with gr.Row():
        image = picture_input("Picture", sources=["upload", "clipboard"], height=300)
        out = gr.Image(label="Dream (live)", type="filepath", format="png", height=300, interactive=False)
    with gr.Row():
        go = gr.Button("Dream", variant="primary")
        stop = stop_button()
    send_buttons(out, dd.NAME)
    receive(dd.NAME, image)
    status = gr.Markdown(VGG_NOTE)
    with gr.Row():
        c = controls(S, ["start", "layer", "channel"])
    gr.Examples(
        examples=[[str(EXAMPLES / "content" / p)] for p in PHOTOS],
        inputs=[image],
        examples_per_page=5,
        label="Examples (photos: scikit-image, scikit-learn, matplotlib)",
    )
    with gr.Row():
        c.update(controls(S, ["octaves", "octave_scale", "iterations"]))
    with gr.Accordion("Advanced: step, jitter, smoothing, size, seed", open=False), gr.Row():
        c.update(controls(S, ["step_size", "jitter", "smoothing", "size", "seed"]))
    plot = gr.LinePlot(
        x="iteration",
        y="½·mean(a²)",
        color="octave",
        color_map=OCTAVE_COLOURS,  # every octave's colour known up front, so later octaves are drawn too
        title="The objective the ascent raises, per iteration",
        label="Objective",
        show_label=False,
    )
    order = [
        "start",
        "layer",
        "channel",
        "octaves",
        "octave_scale",
        "iterations",
        "step_size",
        "jitter",
        "smoothing",
        "size",
        "seed",
    ]
    inputs = {"image": image, **{k: c[k] for k in order}}
    wire(go.click, dd, "dream", inputs, [out, plot, status], _done, live=_live, stop=stop, api_name="deep_dream")
    with gr.Accordion(
        f"What single channels amplify ({dd.GALLERY_CHANNELS} channels of the layer, from noise)", open=False
    ):
        gr.Markdown(
            "Each picture is dreamed from the same grey noise with only one channel as the objective "
            "(feature visualisation). Channel -1 spreads them over the layer; a channel number starts from it. "
            "Type a channel you like into *Channel* above to dream with it."
        )
        show = gr.Button("Show channels", variant="secondary")
        channels = gr.Gallery(label="Channels", columns=dd.GALLERY_CHANNELS // 2, height="auto", object_fit="contain")
        channel_status = gr.Markdown()
    params = {k: c[k] for k in order if k != "start"}
    wire(
        show.click,
        dd,
        "channels",
        params,
        [channels, channel_status],
        gallery_and_info("dream-channel"),
        stop=stop,
        api_name="deep_dream_channels",
    )
    recipe_drop(dd, {k: c[k] for k in order}, actions=("dream",))
