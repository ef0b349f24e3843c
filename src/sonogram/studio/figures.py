"""Figures the studio draws beyond :mod:`sonogram.reports.plots`: a feature map, confusion flows and a
feature projection. Each takes plain data and returns a figure for ``gr.Plot``."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

from sonogram.reports.plots import plt

PALETTE = plt.get_cmap("tab10").colors + plt.get_cmap("tab20b").colors  # class i keeps colour i everywhere


def class_colour(index: int) -> str:
    r, g, b = PALETTE[index % len(PALETTE)][:3]
    return f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})"


def plot_features(features: np.ndarray, title: str) -> Figure:
    """The first channel of ``features (C, F, T)`` as an image, frequency bins up, frames across
    (a line over the bins when there is a single frame)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    if features.shape[-1] == 1:
        ax.plot(features[0, :, 0])
        ax.set(xlabel="feature bin", ylabel="value")
    else:
        image = ax.imshow(features[0], origin="lower", aspect="auto", cmap="magma")
        ax.set(xlabel="frame", ylabel="feature bin")
        fig.colorbar(image, ax=ax)
    ax.set_title(f"{title} {tuple(features.shape)}")
    fig.tight_layout()
    return fig


def confusion_flows(confusion: list[list[int]], labels: list[str], title: str) -> go.Figure:
    """A Sankey diagram from true class (left) to predicted class (right), one band per non-zero cell."""
    counts = np.asarray(confusion)
    n = len(labels)
    true_i, pred_i = np.nonzero(counts)
    colours = [class_colour(i) for i in range(n)]
    link_colours = [colours[i].replace("rgb", "rgba").replace(")", ",0.45)") for i in true_i]
    fig = go.Figure(go.Sankey(
        node={"label": [f"true {x}" for x in labels] + [f"predicted {x}" for x in labels], "color": colours * 2,
              "pad": 6, "thickness": 12},
        link={"source": true_i.tolist(), "target": (pred_i + n).tolist(), "value": counts[true_i, pred_i].tolist(),
              "color": link_colours}))
    fig.update_layout(title_text=title, height=max(320, 28 * n), margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def projection_scatter(points: np.ndarray, labels: list[str], classes: list[str], paths: list[str],
                       explained: tuple[float, float], title: str) -> go.Figure:
    """``points (clips, 2)`` coloured by class; hovering a point shows its clip's path."""
    fig = go.Figure()
    labels_arr, paths_arr = np.asarray(labels), np.asarray(paths)
    for i, label in enumerate(classes):
        mask = labels_arr == label
        fig.add_trace(go.Scatter(x=points[mask, 0], y=points[mask, 1], mode="markers", name=label,
                                 marker={"color": class_colour(i), "size": 7}, text=paths_arr[mask],
                                 hovertemplate="%{text}<extra>" + label + "</extra>"))
    fig.update_layout(title_text=title, height=420, xaxis_title=f"PC 1 ({explained[0]:.0%} of variance)",
                      yaxis_title=f"PC 2 ({explained[1]:.0%})", margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def released(fig: Figure) -> Figure:
    """Hand a matplotlib figure to Gradio without keeping it open in pyplot (it still renders)."""
    plt.close(fig)
    return fig
