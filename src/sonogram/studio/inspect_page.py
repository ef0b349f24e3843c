"""Inspect: one run, or two side by side: classification matrices (train, validation, test), the per-class
report, curves, confusion flows from true to predicted class, per-frame predictions of both runs stacked
above a file's waveform, and the run's ``report.html``."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from sonogram.errors import AudioError, RunError
from sonogram.reports.plots import plot_confusion, plot_curves, plot_frames
from sonogram.service.prediction import frame_probabilities
from sonogram.service.results import run_details
from sonogram.studio.common import Places, guarded, run_choices
from sonogram.studio.figures import confusion_flows, released

PARTS = ("train", "val", "test")


def per_class_rows(metrics: dict, part: str = "test") -> list[list]:
    """``[class, precision, recall, f1, support]`` rows of a part's per-class report."""
    return [[label, *(round(float(v.get(k, 0)), 4) for k in ("precision", "recall", "f1")), v.get("support")]
            for label, v in metrics[part]["per_class"].items()]


def build(places: Places) -> None:
    """Lay out the Inspect page inside the current ``gr.Tab``."""
    finished = run_choices(places, "finished")
    with gr.Row():
        first = gr.Dropdown(finished, label="run", elem_id="inspect-run", scale=3)
        second = gr.Dropdown(finished, value=None, label="second run (optional, side by side)", elem_id="inspect-second", scale=3)
        refresh = gr.Button("↻ runs", scale=1)
        show = gr.Button("Show", variant="primary", elem_id="inspect-show", scale=1)
    message = gr.Markdown(elem_id="inspect-message")
    summary = gr.Markdown(elem_id="inspect-summary")
    with gr.Row():
        matrices = gr.Plot(label="classification matrices (run)", elem_id="inspect-matrices")
        matrices_b = gr.Plot(label="classification matrices (second run)")
    report = gr.Dataframe(headers=["class", "precision", "recall", "f1", "support"], label="per-class report (test)",
                          interactive=False)
    curves = gr.Plot(label="curves")
    with gr.Row():
        flows = gr.Plot(label="confusion flows (test): true → predicted", elem_id="inspect-flows")
        flows_b = gr.Plot(label="confusion flows (second run)")
    page = gr.File(label="report.html", interactive=False)
    gr.Markdown("### Per-frame predictions along a file (both runs stacked above its waveform)")
    with gr.Row():
        audio = gr.Audio(sources=["upload"], type="filepath", label="file", scale=3, elem_id="inspect-audio")
        hop = gr.Number(0.05, label="hop (s)", scale=1)
        draw = gr.Button("Draw frames", scale=1, elem_id="inspect-frames-go")
    frames = gr.Plot(label="per-frame probabilities", elem_id="inspect-frames")

    refresh.click(lambda: [gr.update(choices=run_choices(places, "finished"))] * 2, outputs=[first, second])
    show.click(runs_view, [first, second], [summary, matrices, matrices_b, report, curves, flows, flows_b, page,
                                            message])
    draw.click(frames_view, [first, second, audio, hop], [frames, message])


@guarded(outputs=9)
def runs_view(first: str | None, second: str | None):
    """Every figure of the chosen run(s), then the message."""
    if not first:
        raise RunError("choose a finished run")
    a = run_details(first)
    b = run_details(second) if second and second != first else None
    for details in filter(None, (a, b)):
        if "metrics" not in details:
            raise RunError(f"{details['path']} has not finished training ({details['state']}); nothing to inspect yet")
    lines = [f"**{d['name']}**: test accuracy {d['metrics']['test']['accuracy']:.3f}, macro-F1 "
             f"{d['metrics']['test']['macro_f1']:.3f}, {len(d['history'])} epochs" for d in filter(None, (a, b))]

    def matrices_of(details):
        return released(plot_confusion(details["metrics"], PARTS)) if details else None

    def flows_of(details):
        return confusion_flows(details["metrics"]["test"]["confusion"], details["labels"],
                               f"{details['name']} (test)") if details else None

    histories = [(d["name"], d["history"]) for d in filter(None, (a, b)) if d["history"]]
    return ("  \n".join(lines), matrices_of(a), matrices_of(b), per_class_rows(a["metrics"]),
            released(plot_curves(histories)) if histories else None, flows_of(a), flows_of(b), a.get("report"), "")


@guarded(outputs=2)
def frames_view(first: str | None, second: str | None, audio: str | None, hop: float | None):
    if not first:
        raise RunError("choose a finished run")
    if not audio:
        raise AudioError("upload a file to draw per-frame predictions along")
    runs = [first] + ([second] if second and second != first else [])
    comparison = frame_probabilities(runs, audio, hop or 0.05)
    panels = [p.plotted() for p in comparison.panels]
    return released(plot_frames(panels, comparison.waveform, comparison.sample_rate, title=Path(audio).name)), ""
