"""VAE tab: lays out the controls and wires them to genlab.techniques.vae.run."""

from __future__ import annotations

import gradio as gr

from genlab.core.cards import metrics_md
from genlab.core.control import model_call
from genlab.core.devices import zero_gpu
from genlab.techniques import vae
from genlab.ui.components import EXAMPLES, controls, picture_input
from genlab.ui.send import send_buttons, weights_input
from genlab.ui.wiring import HEAVY, as_message, gallery_and_info, image_and_info, recipe_drop, strip_and_gif, wire


def show_map():
    try:
        return model_call(vae.latent_map)
    except Exception as e:
        raise as_message(e, "vae:map") from None


def decode_point(evt: gr.SelectData):
    px, py = evt.index
    zx = px / vae.MAP_PX * 2 * vae.MAP_RANGE - vae.MAP_RANGE
    zy = vae.MAP_RANGE - py / vae.MAP_PX * 2 * vae.MAP_RANGE
    try:
        return model_call(lambda: vae.decode_point(zx, zy)), f"z = ({zx:.2f}, {zy:.2f})"
    except Exception as e:
        raise as_message(e, "vae:point") from None


PICK_BRUSH = """() => { setTimeout(() => {
  const b = document.querySelector('#vae-sketch button[aria-label="Brush"]');
  if (b && !b.classList.contains('highlight')) b.click();  // 'highlight': the tool already picked
}, 300); }"""


def build() -> None:
    S = vae.Settings
    gr.Markdown(
        "A **variational autoencoder** (Kingma & Welling 2014) trained here on Fashion-MNIST: an encoder maps an "
        "image to a Gaussian over a 16-d latent space, a decoder maps latents back to images, and a KL term keeps "
        "the latents close to N(0, I) so that *any* point decodes to something plausible."
    )
    examples = sorted(str(p) for p in (EXAMPLES / "fashion").glob("*.png"))
    yours = weights_input(vae.NAME)  # sample, reconstruct and interpolate (not the 2-D map's own VAE)
    with gr.Tab("Sample"):
        with gr.Row():
            sample_c = controls(S, ["seed", "count", "temperature"])
        sample_c["weights"] = yours
        go = gr.Button("Sample", variant="primary")
        images = gr.Gallery(label="Prior samples", columns=8, height=330, object_fit="contain")
        send_buttons(images, vae.NAME)
        info = gr.Markdown("The weights load on first use; the line here then names them.")
        wire(go.click, vae, "sample", sample_c, [images, info], gallery_and_info("vae"), api_name="vae_sample")
        recipe_drop(vae, sample_c, actions=("sample",))
    with gr.Tab("Reconstruct") as reconstruct_tab:
        with gr.Row():
            image = picture_input("Upload a picture of clothing", height=240)
            sketch = gr.Sketchpad(
                label="…or draw one (closed outlines are filled in)",
                type="numpy",
                height=320,
                elem_id="vae-sketch",
                canvas_size=(280, 280),
                brush=gr.Brush(default_size=8, colors=["#000000"], color_mode="fixed"),
            )
        if examples:
            gr.Examples(examples, inputs=image, label="Fashion-MNIST test images")
        with gr.Row():
            source = controls(S, ["source"], source={"value": "auto"})["source"]
            rec_btn = gr.Button("Reconstruct", variant="primary")
        # the canvas is ready to draw on: its brush is picked when the tab opens (Gradio starts with no tool)
        reconstruct_tab.select(None, None, None, js=PICK_BRUSH)
        # whichever was changed last is the one reconstructed (and the result says which)
        image.change(lambda p: "upload" if p else gr.update(), image, source, queue=False, api_visibility="private")
        sketch.change(lambda _: "drawing", sketch, source, queue=False, api_visibility="private")
        rec_out = gr.Image(
            label="input · preprocessing · reconstruction", type="filepath", interactive=False, height=200
        )
        rec_info = gr.Markdown()
        wire(
            rec_btn.click,
            vae,
            "reconstruct",
            {"image": image, "sketch": sketch, "source": source, "weights": yours},
            [rec_out, rec_info],
            image_and_info("vae-rec"),
            api_name="vae_reconstruct",
        )
    with gr.Tab("Interpolate"):
        with gr.Row():
            ia = picture_input("Start", height=200)
            ib = picture_input("End", height=200)
        if len(examples) >= 2:
            gr.Examples([[examples[0], examples[-1]], [examples[1], examples[2]]], inputs=[ia, ib], label="Pairs")
        with gr.Row():
            walk_c = {"image_a": ia, "image_b": ib, **controls(S, ["frames"]), "weights": yours}
            walk = gr.Button("Interpolate", variant="primary")
        with gr.Row():
            walk_strip = gr.Image(label="Strip", type="filepath", interactive=False, height=160)
            walk_gif = gr.Image(label="Animation (GIF)", type="filepath", format="gif", interactive=False, height=160)
        wire(
            walk.click,
            vae,
            "interpolate",
            walk_c,
            [walk_strip, walk_gif],
            strip_and_gif("vae-walk"),
            api_name="vae_interpolate",
        )
    with gr.Tab("2-D latent map"):
        gr.Markdown(
            "A second VAE with a **2-D** latent space: the grid decodes evenly spaced points of the plane, "
            "the dots are test images' encodings coloured by class."
        )
        show = gr.Button("Show the map", variant="primary")
        with gr.Row():
            map_img = gr.Image(
                label=f"Latent plane [-{vae.MAP_RANGE:g}, {vae.MAP_RANGE:g}]²",
                type="pil",
                interactive=False,
                height=460,
            )
            with gr.Column():
                point = gr.Image(label="Decoded point", type="pil", interactive=False, height=220)
                point_info = gr.Markdown()
        map_info = gr.Markdown()
        show.click(
            zero_gpu(show_map, vae.GPU_SECONDS),
            None,
            [map_img, map_info],
            api_visibility="private",
            concurrency_id=HEAVY,
        )
        map_img.select(zero_gpu(decode_point, vae.GPU_SECONDS), None, [point, point_info], api_visibility="private")
    with gr.Accordion("How good is it?", open=False):
        gr.Markdown(metrics_md("VAE"))
