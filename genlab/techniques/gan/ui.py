"""GAN tab: lays out the controls and wires them to genlab.techniques.gan.run."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from genlab.core.cards import card, loss_curves, metrics_md
from genlab.techniques import gan
from genlab.ui.components import controls
from genlab.ui.send import send_buttons, weights_input
from genlab.ui.wiring import gallery_and_info, recipe_drop, strip_and_gif, wire

DESCRIPTION = (
    "A **DCGAN** (Radford et al. 2016) trained here on Fashion-MNIST: a generator maps a 64-d noise vector "
    "z and a class to an image, while a discriminator learns to tell its images from real ones; each "
    "improves against the other. Every image comes from its own seed, so any one can be made again."
)


def build() -> None:
    S = gan.Settings
    gr.Markdown(DESCRIPTION)
    yours = weights_input(gan.NAME)
    with gr.Row():
        sample_c = controls(S, ["seed", "count", "class_name", "truncation"], class_name={"widget": "dropdown"})
    sample_c["weights"] = yours
    go = gr.Button("Sample", variant="primary")
    images = gr.Gallery(label="Samples", columns=8, height=330, object_fit="contain")
    send_buttons(images, gan.NAME)
    info = gr.Markdown("The weights load on first use; the line here then names them.")
    wire(go.click, gan, "sample", sample_c, [images, info], gallery_and_info("gan"), api_name="gan_sample")
    recipe_drop(gan, sample_c, actions=("sample",))
    with gr.Accordion("Interpolate between two seeds or classes", open=True):
        with gr.Row():
            walk_c = controls(
                S,
                ["seed", "seed_b", "class_name", "class_b"],
                seed={"value": 1, "label": "Seed A"},
                seed_b={"value": 2},
                class_name={"value": "Sneaker", "label": "Class A", "widget": "dropdown"},
                class_b={"value": "Ankle boot", "widget": "dropdown"},
            )
        with gr.Row():
            walk_c.update(controls(S, ["path", "frames"]))
            walk = gr.Button("Interpolate")
        with gr.Row():
            strip_out = gr.Image(label="Strip", type="filepath", interactive=False, height=160)
            gif_out = gr.Image(label="Animation (GIF)", type="filepath", format="gif", interactive=False, height=160)
        walk_c["truncation"] = sample_c["truncation"]
        walk_c["weights"] = yours
        wire(
            walk.click,
            gan,
            "interpolate",
            walk_c,
            [strip_out, gif_out],
            strip_and_gif("gan-walk"),
            api_name="gan_interpolate",
        )
    with gr.Accordion("How it was trained, and how good it is", open=False):
        gr.Markdown(metrics_md("DCGAN"))
        curves = loss_curves("dcgan", {"g_loss": "generator", "d_loss": "discriminator"})
        if curves:
            minutes = card("dcgan").get("wall_seconds", 0) / 60
            gr.LinePlot(
                pd.DataFrame(curves),
                x="epoch",
                y="loss",
                color="series",
                height=260,
                title=f"DCGAN training: mean loss per epoch ({minutes:.0f} min on CPU)",
            )
        gr.Markdown(
            "The discriminator is conditioned by projection (Miyato & Koyama 2018), spectrally normalised and trained with "
            "the hinge loss. Train again with `python -m genlab.train dcgan --epochs 8`."
        )
