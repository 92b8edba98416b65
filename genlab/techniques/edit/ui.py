"""Edit tab: lays out the editor and controls and wires them to genlab.techniques.edit.run."""

from __future__ import annotations

import gradio as gr

from genlab.core.images import strip
from genlab.core.outputs import save_view
from genlab.models.diffusion import allowed_models
from genlab.techniques import edit
from genlab.ui.components import EXAMPLES, Dropdown, PictureEditor, controls, model_choices, picture_input
from genlab.ui.schedule import COLOURS, noise_schedule
from genlab.ui.send import adapter_input, receive, send_back, send_buttons
from genlab.ui.wiring import gallery, recipe_drop, stop_button, wire

DESCRIPTION = (
    "**Edit with diffusion**, using a model trained only to draw from a prompt. **Image-to-image** (SDEdit, "
    "Meng et al. 2022): your picture or sketch is noised part-way up the schedule — *strength* says how far — and "
    "denoised towards the prompt. **Inpaint** (RePaint, Lugmayr et al. 2022): paint over a part with the brush; at "
    "every step the rest is put back, noised to that step's level, and only the painted part is generated. "
    "**Outpaint**: the canvas grows and the new border is inpainted. Offline the colour model edits 128 px "
    "pictures in the style of emoji and clip art; OpenCV's classical inpainting (Telea) is shown beside it."
)
SKETCH = EXAMPLES / "edit"
ORDER = [
    "prompt",
    "negative_prompt",
    "model",
    "strength",
    "steps",
    "guidance",
    "scheduler",
    "resample",
    "left",
    "right",
    "up",
    "down",
    "seed",
    "batch",
]

PICK_BRUSH = """() => { setTimeout(() => {
  const b = document.querySelector('#edit-editor button[aria-label="Brush"]');
  if (b && !b.classList.contains('highlight')) b.click();  // 'highlight': the tool already picked
}, 300); }"""


def _live(u):
    return gr.update(), gr.update(), gr.update(), gr.update(), f"step **{u.done} / {u.total}** · {u.desc}"


def _done(r):
    d = r.data
    frames = strip([f.resize((112, 112 * f.height // f.width)) for f in d["frames"]]) if d.get("frames") else None
    sched = d.get("schedule") or {}
    plot = noise_schedule(sched.get("alphas_cumprod", []), sched.get("entry_t"), "enters here")
    side = [d[k] for k in ("masked", "telea") if k in d]
    compare = (
        save_view(
            strip([im.convert("RGB").resize((256, 256 * im.height // im.width)) for im in side]), stem="edit-compare"
        )
        if side
        else None
    )
    return (
        gallery(r, "edit"),
        save_view(frames, stem="edit-frames") if frames else None,
        compare,
        plot,
        r.info,
    )


def _sweep_done(r):
    return gallery(r, "edit-sweep"), None, None, noise_schedule([], None), r.info


def build() -> None:
    S = edit.Settings
    tab = gr.context.Context.block  # the tab app.py opened for this technique
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        with gr.Column(scale=3) as left:
            editor = PictureEditor(
                value=str(SKETCH / "blank.png"),
                type="filepath",
                format="png",
                label="Picture — paint the part to regenerate, or sketch with colours",
                brush=gr.Brush(
                    default_size=18,
                    colors=["#e02020", "#f0a020", "#f0e020", "#30b030", "#2060e0", "#8030c0", "#703010", "#000000"],
                    default_color="#e02020",
                    color_mode="defaults",
                ),
                height=380,
                canvas_size=(512, 512),
                elem_id="edit-editor",
            )
            receive(edit.NAME, editor)
        with gr.Column(scale=2):
            c = controls(S, ["prompt", "negative_prompt"], prompt={"max_lines": 2}, negative_prompt={"max_lines": 1})
            c["model"] = Dropdown(
                model_choices(allowed_models()), value=S.default("model"), label=S.spec("model").label
            )
            c.update(controls(S, ["strength"]))
            with gr.Row():
                i2i = gr.Button("Image-to-image", variant="primary")
                inpaint = gr.Button("Inpaint", variant="primary")
                outpaint = gr.Button("Outpaint")
            with gr.Row():
                sweep = gr.Button("Strength sweep")
                stop = stop_button()
    with left:
        gr.Examples(
            [
                [str(SKETCH / "red-blob.png"), "a red apple"],
                [str(SKETCH / "blue-sketch.png"), "a blue car"],
                [str(EXAMPLES / "content" / "coffee.jpg"), "a cup of coffee"],
            ],
            inputs=[editor, c["prompt"]],
            label="Start from (sketches drawn for genlab; photo: scikit-image)",
        )
    # ready to paint: the brush is picked when the tab opens and when a picture arrives (Gradio starts with no tool)
    editor.change(None, None, None, js=PICK_BRUSH, queue=False)
    if isinstance(tab, gr.Tab):
        tab.select(None, None, None, js=PICK_BRUSH, queue=False)
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            c.update(controls(S, ["steps", "guidance", "scheduler", "resample"], scheduler={"widget": "radio"}))
        with gr.Row():
            c.update(controls(S, ["left", "right", "up", "down"]))
        with gr.Row():
            c.update(controls(S, ["seed", "batch"]))
            mask = picture_input("Or upload a mask (white = regenerate; same size as the picture)", height=160)
    with gr.Row():
        adapter = adapter_input(edit.NAME)
        c.update(controls(S, ["lora_scale"]))
    status = gr.Markdown()
    images = gr.Gallery(label="Results", columns=4, height=260, object_fit="contain")
    with gr.Row():
        send_back(images, editor, "Edit the chosen result again")
    send_buttons(images, edit.NAME)
    with gr.Row():
        compare = gr.Image(
            label="Your mask · OpenCV Telea (no learning)", type="filepath", interactive=False, height=260
        )
        frames = gr.Image(
            label="Denoising, first image (left to right)", type="filepath", interactive=False, height=130
        )
        plot = gr.LinePlot(
            x="timestep t",
            y="value",
            color="curve",
            color_map=COLOURS,
            y_lim=[0, 1],
            title="Noise schedule: where image-to-image enters",
            show_label=False,
        )
    settings = {k: c[k] for k in ORDER}
    outputs = [images, frames, compare, plot, status]
    for button, action, api in [
        (i2i, "image_to_image", "image_to_image"),
        (inpaint, "inpaint", "inpaint"),
        (outpaint, "outpaint", "outpaint"),
        (sweep, "sweep", "edit_strength_sweep"),
    ]:
        inputs = {
            "editor": editor,
            **({"mask": mask} if action == "inpaint" else {}),
            **settings,
            "lora_scale": c["lora_scale"],
            "adapter": adapter,
        }
        render = _sweep_done if action == "sweep" else _done
        wire(button.click, edit, action, inputs, outputs, render, live=_live, stop=stop, api_name=api)
    recipe_drop(edit, settings)
