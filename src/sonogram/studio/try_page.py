"""Try: a file or a microphone recording through a trained run: class probabilities, the per-frame
graph along the recording and the features the network saw."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from sonogram.errors import AudioError, RunError
from sonogram.reports.plots import plot_frames
from sonogram.service.clips import try_file
from sonogram.studio.common import Places, guarded, run_choices
from sonogram.studio.figures import plot_features, released


def build(places: Places) -> None:
    """Lay out the Try page inside the current ``gr.Tab``."""
    with gr.Row():
        run = gr.Dropdown(run_choices(places, "finished"), label="run", scale=4, elem_id="try-run")
        refresh = gr.Button("↻ runs", scale=1)
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="clip: upload a file or record",
                     elem_id="try-audio")
    go = gr.Button("Predict", variant="primary", elem_id="try-predict")
    message = gr.Markdown(elem_id="try-message")
    with gr.Row():
        answer = gr.Label(num_top_classes=5, label="class probabilities", elem_id="try-label")
        seen = gr.Plot(label="what the network saw")
    frames = gr.Plot(label="per-frame probabilities along the clip")

    refresh.click(lambda: gr.update(choices=run_choices(places, "finished")), outputs=run)
    go.click(predict, [run, audio], [answer, frames, seen, message])


@guarded(outputs=4)
def predict(run: str | None, audio: str | None):
    """``(probabilities, per-frame figure, feature figure, message)`` for one clip."""
    if not run:
        raise RunError("choose a finished run to predict with")
    if not audio:
        raise AudioError("upload a file or record a clip first")
    result = try_file(run, audio)
    p = result.prediction
    panel = (Path(run).name, result.times, result.frames, result.labels, result.detections)
    frames = plot_frames([panel], result.waveform, result.sample_rate, title=f"predicted '{p.label}'")
    note = f"predicted **{p.label}** ({p.score:.1%})" + (f" — {p.note}" if p.note else "")
    if result.detections:
        note += "; heard along the file: " + ", ".join(f"**{d.label}** at {d.start:.1f}-{d.end:.1f} s"
                                                      for d in result.detections)
    features = None if result.features is None else released(plot_features(result.features, "network input"))
    return p.probabilities, released(frames), features, note
