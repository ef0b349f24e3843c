"""The DET curve of a keyword spotter: miss rate against false accepts per hour, over thresholds.

Example:
    >>> curve = {"threshold": [0.9, 0.5], "miss_rate": [0.4, 0.1], "false_accepts_per_hour": [0.5, 8.0]}
    >>> fig = plot_det({"torch": curve}, goal=(1.0, 0.10))
    >>> fig.axes[0].get_xlabel()
    'false accepts per hour (none: drawn at 0.1)'
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sonogram.reports.plots import plt

FLOOR_PER_HOUR = 0.1  # where zero false accepts are drawn on the logarithmic axis


def plot_det(curves: dict[str, dict], goal: tuple[float, float] | None = None,
             marks: dict[str, float] | None = None, title: str = "") -> Figure:
    """One line per engine from ``{name: {"threshold", "miss_rate", "false_accepts_per_hour"}}`` lists.

    ``goal`` ``(false accepts per hour, miss rate)`` is drawn as a point to be below and left of;
    ``marks`` ``{name: threshold}`` circles the operating point at that threshold on each curve.
    Zero false accepts are drawn at :data:`FLOOR_PER_HOUR`.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, curve in curves.items():
        fa = np.maximum(np.asarray(curve["false_accepts_per_hour"], dtype=float), FLOOR_PER_HOUR)
        miss = 100 * np.asarray(curve["miss_rate"], dtype=float)
        line, = ax.plot(fa, miss, marker=".", markersize=4, label=name)
        for threshold in (marks or {}).values():
            at = int(np.argmin(np.abs(np.asarray(curve["threshold"]) - threshold)))
            ax.plot(fa[at], miss[at], "o", markersize=9, markerfacecolor="none", color=line.get_color())
            ax.annotate(f"{curve['threshold'][at]:g}", (fa[at], miss[at]), textcoords="offset points",
                        xytext=(6, 4), fontsize=8, color=line.get_color())
    if goal:
        ax.plot(goal[0], 100 * goal[1], "*", color="black", markersize=11, label="goal")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (none: drawn at {FLOOR_PER_HOUR:g})")
    ax.set_ylabel("miss rate (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(title or "DET curve (thresholds annotated)")
    return fig
