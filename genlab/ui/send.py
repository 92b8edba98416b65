""" "Send to …": any tab's picture becomes another tab's input, the way generation UIs chain their tools.

Tabs never import each other: a tab that takes a picture calls `receive(tab, component)`; a tab that makes
pictures calls `send_buttons(source, here)` under an output; app.py calls `connect(tabs)` once every tab is
built. A sent genlab PNG keeps its recipe, so the next tab's recipe can record the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

# Tabs that take a picture, in button order: tab id -> button text
TARGETS = {
    "upscale": "Upscale",
    "edit": "Edit",
    "control": "Control (edges)",
    "style_transfer": "Style transfer (content)",
    "deep_dream": "Deep Dream",
}


@dataclass
class _Pending:
    button: gr.Button
    source: gr.components.Component
    selected: gr.State | None  # gallery sources: the index the user clicked (None: the first picture)
    target: str


@dataclass
class _Registry:
    inputs: dict[str, gr.components.Component] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)
    weights: dict[str, tuple[gr.File, gr.Accordion]] = field(default_factory=dict)  # kind -> (file, its box)
    weight_senders: list[tuple[gr.Button, gr.File]] = field(default_factory=list)
    adapters: dict[str, tuple[gr.File, gr.Accordion]] = field(default_factory=dict)  # tab -> (file, its box)
    adapter_senders: list[tuple[gr.Button, gr.File, str]] = field(default_factory=list)  # (button, source, tab)


_REGISTRY = _Registry()


def receive(tab: str, component: gr.components.Component) -> None:
    """`component` (an image input of tab `tab`) takes pictures sent from other tabs."""
    if tab not in TARGETS:
        raise ValueError(f"{tab} is not a Send-to target; add it to genlab.ui.send.TARGETS.")
    _REGISTRY.inputs[tab] = component


def _index(evt: gr.SelectData) -> int:
    return evt.index


def send_buttons(source: gr.components.Component, here: str) -> None:
    """A row of small "Send to …" buttons under `source` (a gr.Image or gr.Gallery of tab `here`)."""
    selected = None
    if isinstance(source, gr.Gallery):
        selected = gr.State(0)
        source.select(_index, None, selected, api_visibility="private")
    with gr.Row():
        for tab, text in TARGETS.items():
            if tab != here:
                button = gr.Button(f"Send to {text}", size="sm", variant="secondary")
                _REGISTRY.pending.append(_Pending(button, source, selected, tab))


def send_back(source: gr.Gallery, target: gr.components.Component, text: str) -> gr.Button:
    """A button that puts the picture chosen in `source` (a gallery) back into `target` of the same tab, to work
    on the result again (e.g. edit an edit)."""
    selected = gr.State(0)
    source.select(_index, None, selected, api_visibility="private")
    button = gr.Button(text, size="sm", variant="secondary")
    button.click(picked, [source, selected], target, api_visibility="private", queue=False)
    return button


def picked(value, index: int | None = None) -> str:
    """The file path of the picture to send: an image's path, or the gallery's chosen (else first) picture."""
    if isinstance(value, list):  # a gallery: [(path, caption) or {"image": ...}, ...]
        if not value:
            raise gr.Error("Nothing to send yet: make some pictures first.", print_exception=False)
        item = value[index if index is not None and 0 <= index < len(value) else 0]
        item = item[0] if isinstance(item, (list, tuple)) else item
        return item.get("image", {}).get("path") if isinstance(item, dict) else str(item)
    if not value:
        raise gr.Error("Nothing to send yet: make a picture first.", print_exception=False)
    return value


def _file_box(title: str, label: str, note: str, elem_id: str | None = None) -> tuple[gr.File, gr.Accordion]:
    """A closed accordion holding an optional .safetensors file (this visit only) and what it does."""
    with gr.Accordion(title, open=False) as box:
        file = gr.File(label=label, file_types=[".safetensors"], type="filepath", height=100, elem_id=elem_id)
        gr.Markdown(note)
    return file, box


def weights_input(kind: str) -> gr.File:
    """An optional file of weights trained in the Train live tab, for a tab whose sampler takes that kind of network
    ("gan" or "vae"; the tab id is the kind). Train live's "Load into …" button fills it."""
    _REGISTRY.weights[kind] = _file_box(
        "Your weights from Train live (optional; this visit only)",
        "Weights trained in the Train live tab (.safetensors); empty = genlab's shipped weights",
        "With a file here, the network **you** trained draws instead of genlab's, until you clear it or leave "
        "the page. It is never saved into genlab.",
    )
    return _REGISTRY.weights[kind][0]


def send_weights(source: gr.File) -> gr.Button:
    """A button under Train live's weights file: load them into the GAN or the VAE tab, whichever fits."""
    button = gr.Button("Load these weights into the GAN / VAE tab", size="sm", variant="secondary")
    _REGISTRY.weight_senders.append((button, source))
    return button


def _route_weights(path: str | None, kinds: list[str]) -> tuple:
    """(file value, accordion) per kind, then the tab to show: the file goes to the tab that fits it."""
    if not path:
        raise gr.Error("There are no weights yet: train first (Stop also keeps them).", print_exception=False)
    from genlab.models import live

    try:
        kind = live.kind_of(path)
    except ValueError as e:
        raise gr.Error(str(e), print_exception=False) from None
    if kind not in kinds:
        raise gr.Error(f"No tab here takes a Train-live {kind}.", print_exception=False)
    out = []
    for k in kinds:
        out += [path, gr.Accordion(open=True)] if k == kind else [gr.update(), gr.update()]
    return (*out, gr.Tabs(selected=kind))


def adapter_input(tab: str) -> gr.File:
    """An optional adapter file taught in the Teach tab (LoRA or textual inversion) for a diffusion tab; Teach's
    "Use in …" buttons fill it. The tab's "lora_scale" setting says how strongly it acts."""
    _REGISTRY.adapters[tab] = _file_box(
        "Your adapter from Teach (optional; this visit only)",
        "Adapter taught in the Teach tab (.safetensors); empty = the base model",
        "With a file here the model draws with what **you** taught it: use the trigger prompt's token "
        "(e.g. *a sks tiger*). Scale 0 is the base model. Nothing is saved into genlab.",
        elem_id=f"{tab}-adapter",
    )
    return _REGISTRY.adapters[tab][0]


def send_adapter(source: gr.File, tab: str, text: str) -> gr.Button:
    """A button under Teach's adapter file: put it into `tab`'s adapter input and switch there."""
    button = gr.Button(text, size="sm", variant="secondary")
    _REGISTRY.adapter_senders.append((button, source, tab))
    return button


def _route_adapter(path: str | None, tab: str) -> tuple:
    if not path:
        raise gr.Error("There is no adapter yet: teach first (Stop also keeps it).", print_exception=False)
    return path, gr.Accordion(open=True), gr.Tabs(selected=tab)


def connect(tabs: gr.Tabs) -> None:
    """Wire every Send-to button built so far to its target input, switching to the target's tab."""
    for p in _REGISTRY.pending:
        target = _REGISTRY.inputs.get(p.target)
        if target is None:
            raise ValueError(f"No tab registered an input for {p.target}: call genlab.ui.send.receive there.")
        inputs = [p.source] if p.selected is None else [p.source, p.selected]
        p.button.click(
            lambda *v, tab=p.target: (picked(*v), gr.Tabs(selected=tab)),
            inputs,
            [target, tabs],
            api_visibility="private",
            queue=False,
        )
    _REGISTRY.pending.clear()
    kinds = list(_REGISTRY.weights)
    for button, source in _REGISTRY.weight_senders:
        button.click(
            lambda path: _route_weights(path, kinds),
            source,
            [c for k in kinds for c in _REGISTRY.weights[k]] + [tabs],
            api_visibility="private",
            queue=False,
        )
    _REGISTRY.weight_senders.clear()
    for button, source, tab in _REGISTRY.adapter_senders:
        if tab not in _REGISTRY.adapters:
            raise ValueError(f"No tab registered an adapter input for {tab}: call genlab.ui.send.adapter_input there.")
        button.click(
            lambda path, tab=tab: _route_adapter(path, tab),
            source,
            [*_REGISTRY.adapters[tab], tabs],
            api_visibility="private",
            queue=False,
        )
    _REGISTRY.adapter_senders.clear()
