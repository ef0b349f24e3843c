"""Metrics for a classifier: accuracy, macro-F1, the per-class report and the confusion matrix.

Example:
    >>> m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    >>> m["accuracy"], round(m["macro_f1"], 3), m["confusion"]
    (0.75, 0.778, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
"""

from __future__ import annotations

import numpy as np

from sonogram.inference.predictor import Predictor
from sonogram.inference.scorers import TorchScorer
from sonogram.network.design import Network


def classification_metrics(targets, predictions, labels: list[str]) -> dict:
    """``{"accuracy", "macro_f1", "clips", "per_class": {label: {precision, recall, f1, support}}, "confusion"}``.

    ``confusion[i][j]`` counts clips of class ``i`` predicted as ``j``. Everything follows from the
    confusion matrix; a class with no predictions has precision 0, and macro-F1 averages the classes
    present among the targets (scikit-learn's ``zero_division=0`` convention).
    """
    targets, predictions = np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    classes = len(labels)
    confusion = np.bincount(targets * classes + predictions, minlength=classes * classes).reshape(classes, classes)
    hits, support, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros(classes), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(classes), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(classes), where=total > 0)
    present = support > 0
    return {
        "accuracy": float(hits.sum() / len(targets)) if len(targets) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "clips": int(len(targets)),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
                      for label, p, r, f, n in zip(labels, precision, recall, f1, support)},
        "confusion": confusion.tolist(),
    }


def part_metrics(network: Network, data, parts: tuple[str, ...] = ("train", "val", "test"),
                 device="cpu", start: int = 0) -> dict:
    """``{part: classification_metrics}`` of ``network`` (moved to ``device``) on each non-empty part of a
    ``FoldData``, scored through the one :class:`~sonogram.inference.predictor.Predictor`. ``start`` > 0:
    ``data`` holds the outputs of the network's first ``start`` front-end layers (the embedding cache)."""
    predictor = Predictor(TorchScorer.from_network(network.to(device), data.labels, start=start))
    metrics = {}
    for part in parts:
        waveforms, targets = data.part(part)
        if len(targets):
            predictions = predictor.probabilities(waveforms, batch_size=256).argmax(axis=1)
            metrics[part] = classification_metrics(targets, predictions, data.labels)
    return metrics


def report_table(metrics: dict, title: str) -> str:
    """The classification report as text: one row per class, then accuracy and macro averages."""
    lines = [f"{title}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
             f"({metrics['clips']} clips)",
             f"  {'class':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, row in metrics["per_class"].items():
        lines.append(f"  {label:<14}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
                     f"{row['support']:>10}")
    return "\n".join(lines)


def confusion_table(metrics: dict) -> str:
    """The confusion matrix as text, rows = true class, columns = predicted class."""
    labels = list(metrics["per_class"])
    width = max(5, max(len(label) for label in labels) + 1)
    lines = [" " * width + "".join(f"{label[:width - 1]:>{width}}" for label in labels)]
    for label, row in zip(labels, metrics["confusion"]):
        lines.append(f"{label[:width - 1]:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)


def mean_std(values: list[float]) -> dict:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "max": float(values.max())}
