"""Compare tab: lays out the controls and wires them to genlab.techniques.compare.run."""

from __future__ import annotations

import gradio as gr

from genlab.techniques import compare
from genlab.ui.components import controls
from genlab.ui.wiring import gallery, stop_button, wire

DESCRIPTION = (
    "**Three ways to generate, on the same request.** A GAN (a generator trained against a discriminator) draws in "
    "one pass; a VAE decodes a point of its latent prior in one pass but cannot be told a class; a diffusion model "
    "removes noise over many steps and follows free text. All three were trained here on Fashion-MNIST. The table is "
    "built from what this run measured (speed, what genlab's classifier judges the samples to be, how many of the "
    "asked classes appear) and the FID in the shipped cards. The walks move between two seeds: slerp for the GAN's "
    "z, lerp for the VAE's, and for diffusion both the starting noise and the text embedding."
)


def _done(r):
    return gallery(r, "compare"), r.data["table"], r.info


def build() -> None:
    S = compare.Settings
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        c = controls(S, ["class_name", "count", "seed", "frames", "steps"], class_name={"widget": "dropdown"})
    with gr.Row():
        go = gr.Button("Compare", variant="primary")
        stop = stop_button()
    table = gr.Markdown()
    status = gr.Markdown()
    images = gr.Gallery(label="Samples · latent walks", columns=2, height=420, object_fit="contain")
    wire(
        go.click,
        compare,
        None,
        c,
        [images, table, status],
        _done,
        live=lambda u: (gr.update(), gr.update(), f"**{u.done} / {u.total}** · {u.desc}"),
        stop=stop,
        api_name="compare",
    )
