"""``report.html``: one self-contained page per run (or several runs side by side), images embedded.

The run report shows the resolved config, the dataset and split, training curves, the
classification report, the confusion matrices and per-frame predictions of a few test files (some
classified correctly, some not). Figures are also kept as PNGs in the run's ``plots/`` folder.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import numpy as np
import yaml

from sonogram.atomic import write_error
from sonogram.audio import load
from sonogram.errors import AudioError, ConfigError, DatasetError
from sonogram.reports import plots
from sonogram.runs import REPORT, Run, write_text

log = logging.getLogger(__name__)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.5em; }
"""


def embed(fig, save_as: Path | None = None) -> str:
    """An ``<img>`` with the figure inlined as base64 PNG, drawn once (and written to ``save_as`` when given)."""
    png = plots.render(fig, "png")
    if save_as is not None:
        if save_as.suffix.lower() != ".png":
            raise ConfigError(f"{save_as}: report figures are saved as .png")
        plots.write_image(png, save_as)
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(metrics: dict) -> str:
    parts = [p for p in ("train", "val", "test") if p in metrics]
    return table(["part", "clips", "accuracy", "macro-F1"],
                 [[p, metrics[p]["clips"], metrics[p]["accuracy"], metrics[p]["macro_f1"]] for p in parts])


def class_report(metrics: dict, part: str = "test") -> str:
    rows = [[label, r["precision"], r["recall"], r["f1"], r["support"]] for label, r in metrics[part]["per_class"].items()]
    return table(["class", "precision", "recall", "F1", "support"], rows)


def frame_examples(run: Run, count: int = 2) -> list[tuple[str, str, str]]:
    """Per-frame prediction figures for up to ``count`` correct and ``count`` wrong test files.

    Returns ``(caption, image html, plot file name)``; empty when the dataset is not reachable here.
    """
    from sonogram.data.loaders import prepare_fold
    from sonogram.inference.detection import detect_along
    from sonogram.inference.predictor import Predictor

    recipe = run.recipe()
    try:
        data = prepare_fold(recipe)
    except (DatasetError, AudioError) as exc:
        log.warning("no per-frame examples: %s", exc)
        return []
    predictor = Predictor.open(run.path)
    test = np.sort(data.split.parts()["test"])
    predicted = predictor.probabilities(data.waveforms[test]).argmax(axis=1)
    truth = data.corpus.targets[test]
    rng = np.random.default_rng(0)
    picks = [(kind, i) for kind, mask in (("correct", predicted == truth), ("wrong", predicted != truth))
             for i in rng.permutation(np.flatnonzero(mask))[:count]]
    examples = []
    for kind, i in picks:
        clip = data.corpus.clips[test[i]]
        waveform, _ = load(clip.path, predictor.sample_rate, start=clip.start, duration=clip.duration)
        times, probabilities = predictor.frame_probabilities(waveform)
        detections = detect_along(predictor.labels, times, probabilities, predictor.num_samples / predictor.sample_rate)
        caption = (f"{kind}: {Path(clip.path).name} (speaker {clip.speaker}) is '{clip.label}', "
                   f"predicted '{predictor.labels[predicted[i]]}'")
        fig = plots.plot_frames([(run.path.name, times, probabilities, predictor.labels, detections)], waveform,
                                predictor.sample_rate, caption)
        name = f"frames_{kind}_{Path(clip.path).stem}.png"
        examples.append((caption, embed(fig, run.plots_dir / name), name))
    return examples


def run_section(run: Run, with_frames: bool = True, with_config: bool = True) -> str:
    recipe = run.recipe()
    metrics = run.metrics()
    parts = [p for p in ("train", "val", "test") if p in metrics]
    summary = (f"<p><b>{html.escape(recipe.dataset.name)}</b>, split <b>{html.escape(recipe.dataset.split)}</b> "
               f"fold <b>{html.escape(str(metrics.get('fold')))}</b>: "
               + ", ".join(f"{p} {metrics[p]['clips']} clips" for p in parts)
               + f". {metrics['params']:,} parameters, {metrics['epochs']} epochs (best {metrics['best_epoch']}), "
               f"{metrics['train_seconds']:.0f} s on {html.escape(metrics['device'])}.</p>")
    out = [f"<h2>{html.escape(run.path.name)}</h2>", summary, metrics_table(metrics),
           "<h3>Training curves</h3>",
           embed(plots.plot_curves([(run.path.name, run.history())]), run.plots_dir / "curves.png"),
           "<h3>Classification report (test)</h3>" if "test" in metrics else "",
           class_report(metrics) if "test" in metrics else "",
           "<h3>Confusion matrices</h3>", embed(plots.plot_confusion(metrics), run.plots_dir / "confusion.png")]
    if with_frames:
        examples = frame_examples(run)
        if examples:
            out.append("<h3>Per-frame predictions on test files</h3>")
            out += [f"<p>{html.escape(caption)}</p>{image}" for caption, image, _ in examples]
    if with_config:
        config = yaml.safe_dump(run.config(), sort_keys=False)
        out += ["<h3>Config</h3>", f"<pre>{html.escape(config)}</pre>"]
    return "\n".join(out)


def _flatten(data, prefix: str = "") -> dict[str, object]:
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return {k: v for i, value in enumerate(data) for k, v in _flatten(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): data}


def config_differences(runs: list[Run]) -> list[list]:
    """``[key, value in run 1, value in run 2, ...]`` for every recipe key whose value differs between runs."""
    flat = [_flatten(run.config()) for run in runs]
    keys = sorted(set().union(*flat))
    missing = "(not set)"
    return [[key] + [str(f.get(key, missing)) for f in flat] for key in keys
            if len({str(f.get(key, missing)) for f in flat}) > 1]


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def _comparison(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        m = run.metrics()
        rows.append([run.path.name, m["recipe"], m["dataset"], m["split"], str(m.get("fold")), m["params"],
                     m["test"]["accuracy"], m["test"]["macro_f1"], f"{m['train_seconds']:.0f}"])
    differences = config_differences(runs)
    return "\n".join([
        "<h2>Comparison</h2>",
        table(["run", "recipe", "dataset", "split", "fold", "params", "test accuracy", "test macro-F1", "train s"],
              rows),
        "<h3>Recipe differences</h3>",
        table(["key"] + [r.path.name for r in runs], differences) if differences else "<p>The recipes are identical.</p>",
        "<h3>Training curves</h3>",
        embed(plots.plot_curves([(r.path.name, r.history()) for r in runs])),
        *(run_section(r, with_frames=False, with_config=False) for r in runs)])


def cv_section(out_dir: Path) -> str:
    """Per-fold table, mean and standard deviation, and the confusion matrix pooled over every fold's test part."""
    from sonogram.runs import read_cv_summary

    summary = read_cv_summary(out_dir)
    rows = [[f["fold"], f["test_clips"], f["test_accuracy"], f["test_macro_f1"], f["val_accuracy"], f["epochs"],
             f"{f['train_seconds']:.0f}"] for f in summary["folds"]]
    out = [f"<p><b>{html.escape(str(summary['dataset']))}</b>, split <b>{html.escape(str(summary['split']))}</b>: "
           f"{len(summary['folds'])} fold(s) finished{'' if summary['complete'] else ' (incomplete)'}.</p>",
           table(["fold", "test clips", "test accuracy", "test macro-F1", "val accuracy", "epochs", "train s"], rows)]
    if summary["folds"]:
        acc, f1 = summary["test_accuracy"], summary["test_macro_f1"]
        out.append(f"<p>Test accuracy <b>{acc['mean']:.4f} &plusmn; {acc['std']:.4f}</b> (worst fold {acc['min']:.4f}); "
                   f"macro-F1 {f1['mean']:.4f} &plusmn; {f1['std']:.4f}; {summary['train_seconds']:.0f} s of training.</p>")
        pooled = None
        for fold in summary["folds"]:
            test = Run(out_dir / fold["run"]).metrics()["test"]
            matrix = np.array(test["confusion"])
            pooled = matrix if pooled is None else pooled + matrix
        labels = list(test["per_class"])
        correct = int(np.trace(pooled))
        pooled_metrics = {"pooled test": {"confusion": pooled.tolist(), "per_class": {k: {} for k in labels},
                                          "accuracy": correct / max(1, int(pooled.sum()))}}
        out += ["<h3>Confusion over every fold's test speakers, pooled</h3>",
                embed(plots.plot_confusion(pooled_metrics, ("pooled test",)), out_dir / "plots" / "confusion_pooled.png")]
    return "\n".join(out)


def write_report(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """Write ``report.html`` into a run (or cross-validation) folder, or a comparison of several runs to ``out``."""
    from sonogram.runs import is_cv_folder

    paths = [Path(r) for r in run_dirs]
    if len(paths) == 1 and is_cv_folder(paths[0]):
        body, title = cv_section(paths[0]), f"sonogram cross-validation {paths[0].name}"
        path = Path(out) if out else paths[0] / REPORT
    else:
        runs = [Run(p) for p in paths]
        for run in runs:
            run.metrics()  # a clear error for an unfinished or damaged run, before any figure is drawn
        if len(runs) == 1:
            body, title = run_section(runs[0]), f"sonogram run {runs[0].path.name}"
            path = Path(out) if out else runs[0].report_path
        else:
            body = _comparison(runs)
            title = "sonogram comparison: " + ", ".join(r.path.name for r in runs)
            path = Path(out) if out else Path(REPORT)
    if path.exists() and path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name such as compare.html")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    write_text(path, _page(title, body))
    return path
