"""Data: the datasets under the data root (or any folder of class folders), clips per class and per
speaker, the splits with their speaker-disjointness, a clip to listen to with its waveform and its
features through any front-end chain, and a 2-D projection (PCA) of front-end features by class."""

from __future__ import annotations

import gradio as gr

from sonogram.data import LOADERS
from sonogram.errors import DatasetError
from sonogram.reports.plots import plot_waveform
from sonogram.service import catalogue
from sonogram.service.clips import class_clips, project, view_clip
from sonogram.service.datasets import describe, survey
from sonogram.studio.common import Places, guarded
from sonogram.studio.figures import plot_features, projection_scatter, released

PAGE_DESIGN = "the Design page's"


def source(name: str | None, folder: str) -> tuple[str, dict]:
    """The dataset name and loader options the form chose: a folder of class folders wins over the name."""
    if folder.strip():
        return "folder", {"path": folder.strip()}
    if not name:
        raise DatasetError("choose a dataset or give a folder of class folders")
    return name, {}


def chosen_design(choice: str, design: dict | None) -> dict:
    if choice == PAGE_DESIGN:
        if not design:
            raise DatasetError("the Design page has no design yet; open it or choose a bundled design")
        return design
    return catalogue.preset(choice)


def build(app: gr.Blocks, places: Places, design_state: gr.State) -> None:
    """Lay out the Data page inside the current ``gr.Tab``."""
    found = gr.Dataframe(headers=["dataset", "clips", "classes", "speakers", "rate (Hz)", "splits"],
                         label="datasets under the data root", interactive=False, elem_id="data-survey")
    with gr.Row():
        name = gr.Dropdown(sorted(LOADERS), value="fsdd", label="dataset", elem_id="data-name", scale=2)
        folder = gr.Textbox(label="or a folder of class folders", scale=3, elem_id="data-folder")
        look = gr.Button("Describe", variant="primary", elem_id="data-describe", scale=1)
    message = gr.Markdown(elem_id="data-message")
    overview = gr.Markdown(elem_id="data-overview")
    with gr.Row():
        per_class = gr.Dataframe(headers=["class", "clips"], label="clips per class", interactive=False)
        per_speaker = gr.Dataframe(headers=["speaker", "clips"], label="clips per speaker", interactive=False)
    splits = gr.Dataframe(headers=["protocol", "fold", "train", "val", "test", "speakers in two parts",
                                   "speaker-disjoint"], label="splits", interactive=False, elem_id="data-splits")
    gr.Markdown("### A clip")
    with gr.Row():
        label = gr.Dropdown(label="class", scale=1, elem_id="data-class")
        clip = gr.Dropdown(label="clip", scale=3, elem_id="data-clip")
        design = gr.Dropdown([PAGE_DESIGN, *catalogue.presets()], value="cnn_logmel", label="front-end of design",
                             scale=2)
    player = gr.Audio(label="listen", interactive=False, type="filepath")
    with gr.Row():
        wave = gr.Plot(label="waveform")
        seen = gr.Plot(label="through the front-end", elem_id="data-features")
    gr.Markdown("### Feature explorer (PCA of front-end features, coloured by class)")
    with gr.Row():
        per = gr.Slider(5, 100, value=20, step=5, label="clips per class", scale=2)
        explore = gr.Button("Project", elem_id="data-project", scale=1)
    scatter = gr.Plot(label="projection (hover a point for its clip)", elem_id="data-scatter")
    point = gr.Dropdown(label="play a projected clip", elem_id="data-point")
    point_player = gr.Audio(label="projected clip", interactive=False, type="filepath")

    @guarded(outputs=7)
    def look_up(dataset, path):
        dataset, options = source(dataset, path)
        summary = describe(dataset, options, 0, places.data_root)
        disjoint = set(summary["speaker_disjoint"])
        rows = [[protocol, fold["name"], fold["train"], fold["val"], fold["test"], fold["shared_speakers"],
                 "yes" if protocol in disjoint else "no"] for protocol, folds in summary["splits"].items()
                for fold in folds]
        text = (f"**{summary['name']}**: {summary['clips']} clips, {summary['classes']} classes, "
                f"{summary['speakers']} speakers, {summary['sample_rate']} Hz")
        classes = list(summary["per_class"])
        return (text, list(summary["per_class"].items()), list(summary["per_speaker"].items()), rows,
                gr.update(choices=classes, value=classes[0] if classes else None), gr.update(choices=[], value=None), "")

    @guarded(outputs=2)
    def list_clips(dataset, path, cls):
        dataset, options = source(dataset, path)
        rows = class_clips(dataset, options, places.data_root, cls, limit=100)
        return gr.update(choices=[(f"{r['speaker']} · {r['path'].rsplit('/', 1)[-1]}", r["path"]) for r in rows],
                         value=rows[0]["path"] if rows else None), ""

    @guarded(outputs=4)
    def listen(path, design_choice, design_value):
        if not path:
            return None, None, None, ""
        clip_view = view_clip(path, chosen_design(design_choice, design_value))
        return (path, released(plot_waveform(clip_view.waveform, clip_view.sample_rate, title="waveform")),
                released(plot_features(clip_view.features, design_choice)), "")

    @guarded(outputs=3)
    def projected(dataset, path, design_choice, design_value, count):
        dataset, options = source(dataset, path)
        found_points = project(dataset, chosen_design(design_choice, design_value), options, places.data_root,
                               int(count))
        classes = list(dict.fromkeys(found_points.labels))
        figure = projection_scatter(found_points.points, found_points.labels, classes, found_points.paths,
                                    found_points.explained, f"{dataset}: {len(found_points.labels)} clips")
        choices = [(f"{lab} · {p.rsplit('/', 1)[-1]}", p) for lab, p in zip(found_points.labels, found_points.paths)]
        return figure, gr.update(choices=choices, value=None), ""

    app.load(lambda: survey_rows(places), outputs=found)
    look.click(look_up, [name, folder], [overview, per_class, per_speaker, splits, label, clip, message])
    label.change(list_clips, [name, folder, label], [clip, message])
    gr.on([clip.change, design.change], listen, [clip, design, design_state], [player, wave, seen, message])
    explore.click(projected, [name, folder, design, design_state, per], [scatter, point, message])
    point.change(lambda p: p, point, point_player)


def survey_rows(places: Places) -> list[list]:
    """``[dataset, clips, classes, speakers, rate, splits]`` per dataset found (or "not found")."""
    rows = []
    for row in survey(places.data_root)["datasets"]:
        if "missing" in row:
            rows.append([row["name"], "not found", "", "", "", ""])
        else:
            rows.append([row["name"], row["clips"], row["classes"], row["speakers"], row["sample_rate"],
                         ", ".join(row["splits"])])
    return rows
