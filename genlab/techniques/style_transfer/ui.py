"""Style transfer tab: lays out the controls and wires them to genlab.techniques.style_transfer.run."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from genlab.core.outputs import save_pngs
from genlab.techniques import style_transfer as st
from genlab.ui.components import EXAMPLES, VGG_NOTE, Slider, controls, picture_input
from genlab.ui.send import receive, send_buttons
from genlab.ui.wiring import image_and_info, recipe_drop, stop_button, wire

PAIRS = [
    ("content/chelsea.jpg", "styles/hokusai_great_wave.jpg"),
    ("content/astronaut.jpg", "styles/munch_the_scream.jpg"),
    ("content/china.jpg", "styles/van_gogh_village_street_auvers.jpg"),
    ("content/coffee.jpg", "styles/kandinsky_composition_viii.jpg"),
    ("content/grace_hopper.jpg", "styles/hiroshige_benzaiten_shrine_snow.jpg"),
]
CURVES = {"content": "#1f77b4", "style": "#d62728", "tv": "#2ca02c", "total": "#111111"}  # loss -> colour


def loss_frame(history: list[dict]) -> pd.DataFrame:
    """Long-format losses, each divided by its largest value so far: every curve reads on one linear 0-1 axis
    (raw values span many orders of magnitude, and the content loss starts at 0 from a content start)."""
    peak = {k: max((h[k] for h in history), default=0.0) or 1.0 for k in CURVES}
    rows = [{"iteration": h["step"], "share of its peak": h[k] / peak[k], "loss": k} for h in history for k in CURVES]
    return pd.DataFrame(rows)


def _live(u):
    plot = loss_frame(u.data["history"]) if u.preview is not None else gr.update()
    status = f"**{u.done} / {u.total}** iterations · {u.desc}"
    return (u.preview if u.preview is not None else gr.update()), plot, status


def _done(r):
    return save_pngs(r.images, r.recipes, "style")[0], loss_frame(r.data["history"]), r.info


def build() -> None:
    S = st.Settings
    gr.Markdown(
        "Optimise an image so its **VGG features** match a content photo (layer conv4_2) and the **feature "
        "correlations (Gram matrices)** of a painting (relu1_1…relu5_1) — Gatys, Ecker & Bethge 2016. "
        "genlab works coarse-to-fine: it optimises a half-size copy first, then refines at full size. "
        "**Fast mode** instead runs one pass of a network trained to stylise with any painting."
    )
    with gr.Row():
        content = picture_input("Content photo", sources=["upload", "clipboard"], height=260)
        style = picture_input("Style painting", sources=["upload", "clipboard"], height=260)
        out = gr.Image(label="Result (live)", type="filepath", format="png", height=260, interactive=False)
    with gr.Row():  # within the first screen, next to the live result
        go = gr.Button("Stylise", variant="primary")
        stop = stop_button()
    send_buttons(out, st.NAME)
    receive(st.NAME, content)
    status = gr.Markdown(VGG_NOTE)
    plot = gr.LinePlot(
        x="iteration",
        y="share of its peak",
        color="loss",
        color_map=CURVES,
        y_lim=[0, 1],
        title="Losses, each as a share of its largest value",
        label="Loss curves",
        show_label=False,
    )
    with gr.Row():
        strength = Slider(
            minimum=0,
            maximum=1,
            step=0.05,
            value=st.DEFAULT_STYLISATION,
            label="Stylisation strength (0: the photo's colours shift; 1: the painting takes over)",
        )
        c = controls(S, ["size", "steps", "coarse_steps"])
    gr.Examples(
        examples=[[str(EXAMPLES / c), str(EXAMPLES / s)] for c, s in PAIRS],
        inputs=[content, style],
        examples_per_page=5,
        label="Examples (photos: scikit-image, scikit-learn, matplotlib; paintings: public domain)",
    )
    with gr.Row():
        c.update(controls(S, ["optimizer", "init", "preserve_colors", "style_scale", "seed"]))
    with gr.Accordion("Blend a second style", open=False), gr.Row():
        style2 = picture_input("Second style painting (optional)", height=200)
        c.update(controls(S, ["style_blend"]))
    with gr.Accordion("Advanced: raw loss weights α/β/TV, per-layer style weights, coarse-to-fine levels", open=False):
        with gr.Row():
            c.update(controls(S, ["content_weight", "style_weight", "tv_weight"]))
        with gr.Row():
            c.update(controls(S, [f"weight_{k}" for k in st.STYLE_LAYERS]))
        c.update(controls(S, ["levels"]))
    strength.change(  # the simple control writes the raw weight shown under Advanced
        lambda v: gr.update(value=st.style_weight_for(float(v))), strength, c["style_weight"], api_visibility="private"
    )
    order = [
        "size",
        "steps",
        "content_weight",
        "style_weight",
        "tv_weight",
        "optimizer",
        "init",
        "preserve_colors",
        "style_scale",
        "style_blend",
        "levels",
        "coarse_steps",
        "seed",
        *[f"weight_{k}" for k in st.STYLE_LAYERS],
    ]
    gatys_c = {"content": content, "style": style, "style2": style2, **{k: c[k] for k in order}}
    wire(go.click, st, "gatys", gatys_c, [out, plot, status], _done, live=_live, stop=stop, api_name="style_transfer")
    with gr.Accordion("Fast mode: one forward pass (Magenta arbitrary style)", open=True), gr.Row():
        fast_c = {"content": content, "style": style, **controls(S, ["strength", "size"])}
        fast = gr.Button("Fast stylise", variant="secondary")
    fast.click(lambda: None, None, plot, queue=False, api_visibility="private")  # the Gatys curves do not belong to it
    wire(fast.click, st, "fast", fast_c, [out, status], image_and_info("fast-style"), api_name="style_transfer_fast")
    recipe_drop(st, {k: c[k] for k in order}, actions=("gatys",))
