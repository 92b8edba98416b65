"""Control tab: lays out the sketchpad and controls and wires them to genlab.techniques.control.run."""

from __future__ import annotations

import gradio as gr

from genlab.techniques import control
from genlab.ui.components import EXAMPLES, Dropdown, PictureEditor, controls, model_choices
from genlab.ui.send import receive, send_buttons
from genlab.ui.wiring import gallery, stop_button, wire

DESCRIPTION = (
    "**Structural control with a ControlNet** (Zhang, Rao & Agrawala 2023). A copy of the diffusion model's "
    "encoder reads an *edge map* and adds what it sees to the frozen model's skip connections through "
    "zero-initialised convolutions, so the picture follows your lines while the prompt chooses what fills them. "
    "Draw dark lines on the canvas (**lines**), or upload a photo or drawing and use its Canny **edges**, the "
    "**contours** HED (a network trained on outlines people drew) finds, thinned to lines, or HED's **soft edges** "
    "as they are. "
    "*Strength* scales the ControlNet's signal; *from / until* say during which part of the denoising it acts "
    "(early steps fix the layout, late ones the details). The same prompt without control is drawn beside it at "
    "the same seeds. Offline this is genlab's colour model with two ControlNets trained here on its pictures: one "
    "on Canny edges (it reads lines, edges and contours), one on HED's soft edges (it reads soft edges; on photos "
    "it follows them less closely than the first follows contours — compare the two)."
)
DRAWINGS = EXAMPLES / "control"
ORDER = [
    "prompt",
    "negative_prompt",
    "source",
    "strength",
    "start",
    "end",
    "steps",
    "guidance",
    "seed",
    "batch",
    "model",
]


def _live(u):
    return gr.update(), gr.update(), gr.update(), f"step **{u.done} / {u.total}** · {u.desc}"


def _done(r):
    from genlab.core.outputs import save_view

    shown = gallery(r, "control")
    n = r.data["with"]
    edges = save_view(r.data["edges"].resize((256, 256)), stem="control-edges")
    return edges, shown[:n], shown[n:], r.info


def _strength(model: str, source: str, now: float):
    """The new ControlNet's default strength, unless the person set one of their own (kept then)."""
    defaults = {control.COLOUR_STRENGTH, control.HED_STRENGTH, control.HUB_STRENGTH}
    return gr.update(value=control.default_strength(model, source)) if now in defaults else gr.update()


def build() -> None:
    S = control.Settings
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        with gr.Column(scale=3) as left:
            sketch = PictureEditor(
                value=str(EXAMPLES / "edit" / "blank.png"),
                type="filepath",
                format="png",
                label="Draw lines (dark on white), or upload a picture",
                brush=gr.Brush(default_size=10, colors=["#000000"], default_color="#000000", color_mode="fixed"),
                height=380,
                canvas_size=(512, 512),
                elem_id="control-sketch",
            )
            receive(control.NAME, sketch)
        with gr.Column(scale=2):
            c = controls(S, ["prompt", "negative_prompt"], prompt={"max_lines": 2}, negative_prompt={"max_lines": 1})
            c.update(controls(S, ["source", "strength"], source={"widget": "radio"}))
            with gr.Row():
                c.update(controls(S, ["start", "end"]))
            with gr.Row():
                go = gr.Button("Generate with control", variant="primary")
                stop = stop_button()
    with left:
        gr.Examples(
            [
                [str(DRAWINGS / "apple-lines.png"), "a red apple", "lines"],
                [str(DRAWINGS / "house-lines.png"), "a house, clip art", "lines"],
                [str(DRAWINGS / "star-lines.png"), "a yellow star", "lines"],
                [str(EXAMPLES / "content" / "coffee.jpg"), "a cup of coffee", "edges"],
                [str(EXAMPLES / "content" / "coffee.jpg"), "a cup of coffee", "contours"],
                [str(EXAMPLES / "content" / "coffee.jpg"), "a cup of coffee", "soft edges"],
            ],
            inputs=[sketch, c["prompt"], c["source"]],
            label="Start from (drawings made for genlab; photo: scikit-image)",
        )
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            c.update(controls(S, ["steps", "guidance", "seed", "batch", "compare"]))
        with gr.Row():
            c["model"] = Dropdown(
                model_choices(control.models(), {control.COLOUR_MODEL: "ControlNet trained here"}),
                value=S.default("model"),
                label=S.spec("model").label,
                info="Online, SD 1.5 uses lllyasviel's public ControlNets: scribble for lines and contours, Canny "
                "for edges, HED for soft edges",
            )  # fmt: skip
    for changed in (c["model"], c["source"]):  # each ControlNet starts at its own strength
        changed.change(_strength, [c["model"], c["source"], c["strength"]], c["strength"], api_visibility="private")
    status = gr.Markdown()
    with gr.Row():
        edges = gr.Image(label="Edge map the ControlNet sees", type="filepath", interactive=False, height=260, scale=1)
        with gr.Column(scale=3):
            controlled = gr.Gallery(label="With control", columns=4, height=200, object_fit="contain")
            plain = gr.Gallery(label="Same prompt and seeds, without control", columns=4, height=200)
    send_buttons(controlled, control.NAME)
    inputs = {"sketch": sketch, **{k: c[k] for k in [*ORDER, "compare"]}}
    wire(
        go.click,
        control,
        None,
        inputs,
        [edges, controlled, plain, status],
        _done,
        live=_live,
        stop=stop,
        api_name="control",
    )
