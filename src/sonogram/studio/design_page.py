"""Design: the network as a chain of nodes (sound input -> front-end layers -> model -> class outputs).
Pick a node to edit its parameters in a form; add, remove and reorder front-end nodes; every edit
re-describes the design, so shapes, parameter counts and the validator's messages on their nodes follow
as you type. Presets are the bundled designs; save and load the YAML ``sonogram design show`` reads."""

from __future__ import annotations

import copy
import html
import json
import tempfile
from pathlib import Path

import gradio as gr
import yaml

from sonogram.errors import ConfigError
from sonogram.models import MODELS
from sonogram.network.frontend import FRONTENDS
from sonogram.service import catalogue
from sonogram.service.designs import DesignDescription, describe_design
from sonogram.studio.common import warning

SLOTS = 18  # form fields: more than any node has keys
PAGE_OUTPUTS = 6 + SLOTS + 2  # see ``everything``
INPUT_KEYS = ["sample_rate", "num_samples", "num_classes", "align"]
# The net designer's names for the keys they correspond to.
REFERENCE_NAMES = {"n_fft": "FFT size", "hop_length": "FFT stride", "rate": "down-convert rate",
                   "frame_size": "input frame size", "conv_size": "convolution size",
                   "conv_stride": "convolution stride", "conv_out": "output convolution size",
                   "window_stride": "frame stride", "hidden": "fully connected layers",
                   "sample_rate": "sample rate (Hz)", "num_samples": "clip length (samples)"}
STYLE = """
<style>
.sg-chain {display:flex; flex-wrap:wrap; align-items:stretch; gap:4px; font-size:13px}
.sg-node {border:2px solid #7a8ba6; border-radius:8px; padding:6px 10px; min-width:120px; background:#f5f7fb}
.sg-node.sg-bad {border-color:#d03030; background:#fdeeee}
.sg-node.sg-chosen {box-shadow:0 0 0 3px #f0b429}
.sg-node b {display:block}
.sg-arrow {align-self:center; font-size:20px; color:#7a8ba6}
.sg-err {color:#b00020; font-weight:bold; max-width:260px; overflow-wrap:anywhere}
</style>
"""


def node_key(error_key: str) -> str:
    """The node an error key concerns: ``frontend.i``, ``model`` or ``input`` (``design`` when none)."""
    parts = error_key.split(".")
    if parts[0] == "frontend" and len(parts) > 1:
        return f"frontend.{parts[1]}"
    if parts[0] == "model":
        return "model"
    return "input" if parts[0] in INPUT_KEYS else "design"


def node_choices(design: dict) -> list[tuple[str, str]]:
    """``(label, node key)`` for the node picker."""
    nodes = [("sound input", "input")]
    nodes += [(f"{i} · {entry.get('name', '?')}", f"frontend.{i}") for i, entry in enumerate(design["frontend"])]
    return nodes + [(f"model · {design['model'].get('name', '?')}", "model")]


def draw(design: dict, described: DesignDescription, chosen: str) -> str:
    """The chain of nodes as HTML: each with its output shape and parameters, flagged with its errors."""
    errors: dict[str, list[str]] = {}
    for error in described.errors:
        errors.setdefault(node_key(error["key"]), []).append(error["message"])
    rows = {row["layer"].split("_", 1)[0]: row for row in described.rows if row["layer"].startswith("frontend.")}
    model_rows = [row for row in described.rows if row["layer"].startswith("model")]

    def node(key: str, title: str, lines: list[str]) -> str:
        css = "sg-node" + (" sg-bad" if key in errors else "") + (" sg-chosen" if key == chosen else "")
        body = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
        body += "".join(f"<div class='sg-err'>⚠ {html.escape(m)}</div>" for m in errors.get(key, []))
        return f"<div class='{css}' data-node='{key}'><b>{html.escape(title)}</b>{body}</div>"

    boxes = [node("input", "sound input", [f"{design.get('sample_rate')} Hz", f"{design.get('num_samples')} samples"])]
    for i, entry in enumerate(design["frontend"]):
        row = rows.get(f"frontend.{i}")
        lines = [f"out {shape(row['output'])}", f"{row['params']:,} params"] if row else []
        if row and row.get("hop"):
            lines.append(f"window {row['window']}, hop {row['hop']} samples")
        boxes.append(node(f"frontend.{i}", f"{i} {entry.get('name', '?')}", lines))
    model_lines = []
    if model_rows:
        model_lines = [f"out {shape(model_rows[-1]['output'])}", f"{sum(r['params'] for r in model_rows):,} params"]
    boxes.append(node("model", f"model {design['model'].get('name', '?')}", model_lines))
    boxes.append(node("outputs", "outputs", [f"{design.get('num_classes')} classes, named by the dataset"]))
    arrow = "<span class='sg-arrow'>→</span>"
    other = "".join(f"<div class='sg-err'>⚠ {html.escape(m)}</div>" for m in errors.get("design", []))
    return STYLE + f"<div class='sg-chain' id='design-chain'>{arrow.join(boxes)}</div>{other}"


def shape(output: list[int] | None) -> str:
    """An output shape without its batch axis: ``(C, F, T)`` or ``(classes,)``."""
    return "?" if output is None else str(tuple(output[1:]) if output and output[0] == -1 else tuple(output))


def totals(described: DesignDescription) -> str:
    if described.errors:
        return warning(f"{len(described.errors)} problem(s): {described.errors[0]['message']}")
    return (f"**{described.params:,} parameters** ({described.trainable:,} trainable) · features the model sees: "
            f"{tuple(described.feature_shape)}")


def node_entry(design: dict, key: str) -> tuple[list[str], dict, dict]:
    """``(keys, values set in the design, defaults)`` of one node."""
    if key == "input":
        return INPUT_KEYS, {k: design.get(k) for k in INPUT_KEYS}, {}
    if key == "model":
        name = design["model"].get("name")
        defaults = catalogue.model_defaults(name) if name in MODELS else {}
        return list(defaults), design["model"], defaults
    entry = design["frontend"][int(key.split(".")[1])]
    name = entry.get("name")
    if name not in FRONTENDS:
        return [], entry, {}
    return catalogue.frontend_keys(name), entry, catalogue.frontend_defaults(name)


def show(value: object) -> str:
    """A value as the form shows it (YAML flow style for lists and mappings)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def parse(text: str) -> object:
    """A form value: YAML (numbers, lists, true/false), else the text itself; ``None`` when blank."""
    if not text.strip():
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def form(design: dict, key: str) -> list:
    """Updates for the ``SLOTS`` fields showing node ``key``, then the list of keys they edit."""
    keys, values, defaults = node_entry(design, key)
    updates = []
    for i in range(SLOTS):
        if i < len(keys):
            k = keys[i]
            label = f"{REFERENCE_NAMES[k]} ({k})" if k in REFERENCE_NAMES else k
            placeholder = f"default: {show(defaults[k]) or 'none'}" if k in defaults else "required"
            updates.append(gr.update(visible=True, label=label, value=show(values.get(k)), placeholder=placeholder))
        else:
            updates.append(gr.update(visible=False, value=""))
    return [*updates, keys]


def view(design: dict, chosen: str) -> list:
    """Chain, totals and YAML of a design."""
    described = describe_design(design)
    return [draw(design, described, chosen), totals(described), catalogue.design_yaml(design)]


def everything(design: dict, chosen: str, message: str = "") -> list:
    """Every output of the page for a new design or a newly chosen node."""
    picker = gr.update(choices=node_choices(design), value=chosen)
    return [design, chosen, picker, *view(design, chosen), *form(design, chosen), message]


def build(app: gr.Blocks, design_state: gr.State) -> None:
    """Lay out the Design page inside the current ``gr.Tab``; ``design_state`` is shared with the Train page."""
    start = catalogue.preset(catalogue.NET_DESIGNER)
    chosen = gr.State("model")
    keys = gr.State([])
    with gr.Row():
        preset = gr.Dropdown(catalogue.presets(), value=catalogue.NET_DESIGNER, label="preset (bundled designs)",
                             elem_id="design-preset", scale=3)
        upload = gr.File(label="load design YAML", file_types=[".yaml", ".yml"], elem_id="design-upload", scale=2)
        save = gr.Button("Save YAML", scale=1, elem_id="design-save")
        saved = gr.File(label="saved design", interactive=False, scale=2, elem_id="design-saved")
    chain = gr.HTML(elem_id="design-chain-box")
    total = gr.Markdown(elem_id="design-totals")
    picker = gr.Radio(label="node to edit", elem_id="design-node")
    with gr.Row():
        layer = gr.Dropdown(list(FRONTENDS), value="normalize", label="front-end layer", scale=2)
        add = gr.Button("Add after node", scale=1, elem_id="design-add")
        remove = gr.Button("Remove node", scale=1, elem_id="design-remove")
        up = gr.Button("Move up", scale=1)
        down = gr.Button("Move down", scale=1)
        model = gr.Dropdown(list(MODELS), value=start["model"]["name"], label="model", scale=2, elem_id="design-model")
    with gr.Row(equal_height=True):
        fields = [gr.Textbox(visible=False, min_width=150, elem_id=f"design-field-{i}") for i in range(SLOTS)]
    message = gr.Markdown(elem_id="design-message")
    text = gr.Code(language="yaml", label="design YAML (what `sonogram design show` reads)", interactive=False)

    page = [design_state, chosen, picker, chain, total, text, *fields, keys, message]
    gr.on([preset.input], lambda name: everything(catalogue.preset(name), "model"), preset, page)
    upload.upload(load_yaml, upload, page)
    picker.input(lambda d, c: everything(d, c), [design_state, picker], page)
    add.click(lambda d, c, n: everything(*added(d, c, n)), [design_state, chosen, layer], page)
    remove.click(lambda d, c: everything(*removed(d, c)), [design_state, chosen], page)
    up.click(lambda d, c: everything(*moved(d, c, -1)), [design_state, chosen], page)
    down.click(lambda d, c: everything(*moved(d, c, 1)), [design_state, chosen], page)
    model.input(lambda d, n: everything({**d, "model": catalogue.new_model(n)}, "model"), [design_state, model], page)
    for field in fields:
        field.input(edited, [design_state, chosen, keys, *fields], [design_state, chain, total, text, message],
                    trigger_mode="always_last")
    save.click(write_yaml, design_state, saved)
    app.load(lambda: everything(start, "model"), outputs=page)


def edited(design: dict, chosen: str, keys: list[str], *values: str) -> list:
    """The design with node ``chosen``'s form values written in (a blank field drops its key)."""
    design = copy.deepcopy(design)
    if chosen == "model":
        entry = design["model"]
    elif chosen == "input":
        entry = design
    else:
        entry = design["frontend"][int(chosen.split(".")[1])]
    for key, text in zip(keys, values):
        value = parse(text)
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return [design, *view(design, chosen), ""]


def added(design: dict, chosen: str, name: str) -> tuple[dict, str]:
    design = copy.deepcopy(design)
    frontend = design["frontend"]
    at = 0 if chosen == "input" else len(frontend) if chosen == "model" else int(chosen.split(".")[1]) + 1
    frontend.insert(at, catalogue.new_frontend(name))
    return design, f"frontend.{at}"


def removed(design: dict, chosen: str) -> tuple[dict, str, str]:
    if not chosen.startswith("frontend."):
        return design, chosen, warning("pick a front-end node to remove (the input and the model stay)")
    design = copy.deepcopy(design)
    index = int(chosen.split(".")[1])
    del design["frontend"][index]
    left = len(design["frontend"])
    return design, f"frontend.{min(index, left - 1)}" if left else "model", ""


def moved(design: dict, chosen: str, step: int) -> tuple[dict, str, str]:
    if not chosen.startswith("frontend."):
        return design, chosen, warning("pick a front-end node to move")
    index = int(chosen.split(".")[1])
    target = index + step
    if not 0 <= target < len(design["frontend"]):
        return design, chosen, ""
    design = copy.deepcopy(design)
    frontend = design["frontend"]
    frontend[index], frontend[target] = frontend[target], frontend[index]
    return design, f"frontend.{target}", ""


def load_yaml(path: str | None) -> list:
    if not path:
        return everything(catalogue.preset(catalogue.NET_DESIGNER), "model")
    try:
        return everything(catalogue.read_design(path), "model")
    except ConfigError as exc:
        return [*[gr.skip()] * (PAGE_OUTPUTS - 1), warning(str(exc))]


def write_yaml(design: dict) -> str:
    """Write the design's YAML to a fresh temporary file and return its path for download."""
    folder = Path(tempfile.mkdtemp(prefix="sonogram-design-"))
    path = folder / "design.yaml"
    path.write_text(catalogue.design_yaml(design))
    return str(path)
