"""``report.html``: one self-contained page per run (or several runs side by side), images embedded.

The run report shows the resolved config, the dataset and split, training curves, the
classification report, the confusion matrices and per-frame predictions of a few test files (some
classified correctly, some not). Figures are also kept as PNGs in the run's ``plots/`` folder.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path

import numpy as np
import yaml

from sonogram.reports import plots
from sonogram.audio import AudioError, load
from sonogram.data import DatasetError
from sonogram.errors import ConfigError

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
    """An ``<img>`` with the figure inlined as base64 PNG (also saved to ``save_as`` when given)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    if save_as is not None:
        plots.save(fig, save_as)
    else:
        plots.plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


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


def frame_examples(run_dir: Path, count: int = 2) -> list[tuple[str, str, str]]:
    """Per-frame prediction figures for up to ``count`` correct and ``count`` wrong test files.

    Returns ``(caption, image html, plot file name)``; empty when the dataset is not reachable here.
    """
    from sonogram.data.loaders import prepare_fold
    from sonogram.evaluate import predict_probabilities
    from sonogram.inference.predictor import load_run, sliding_probabilities
    from sonogram.engine.train import load_run_recipe

    recipe = load_run_recipe(run_dir)
    try:
        data = prepare_fold(recipe)
    except (DatasetError, AudioError) as exc:
        log.warning("no per-frame examples: %s", exc)
        return []
    network, checkpoint = load_run(run_dir)
    labels = checkpoint["labels"]
    test = np.sort(data.split.parts()["test"])
    predicted = predict_probabilities(network, data.waveforms[test]).argmax(axis=1)
    truth = data.corpus.targets[test]
    rng = np.random.default_rng(0)
    picks = [(kind, i) for kind, mask in (("correct", predicted == truth), ("wrong", predicted != truth))
             for i in rng.permutation(np.flatnonzero(mask))[:count]]
    examples = []
    for kind, i in picks:
        clip = data.corpus.clips[test[i]]
        waveform, _ = load(clip.path, recipe.design.sample_rate, start=clip.start, duration=clip.duration)
        times, probabilities = sliding_probabilities(network, waveform)
        caption = (f"{kind}: {Path(clip.path).name} (speaker {clip.speaker}) is '{clip.label}', "
                   f"predicted '{labels[predicted[i]]}'")
        fig = plots.plot_frames([(run_dir.name, times, probabilities, labels)], waveform, recipe.design.sample_rate,
                                caption)
        name = f"frames_{kind}_{Path(clip.path).stem}.png"
        examples.append((caption, embed(fig, run_dir / "plots" / name), name))
    return examples


def run_section(run_dir: Path, with_frames: bool = True) -> str:
    from sonogram.engine.train import load_run_recipe

    recipe = load_run_recipe(run_dir)
    metrics = plots.read_metrics(run_dir)
    config = yaml.safe_dump(yaml.safe_load((run_dir / "config.yaml").read_text()), sort_keys=False)
    parts = [p for p in ("train", "val", "test") if p in metrics]
    summary = (f"<p><b>{html.escape(recipe.dataset.name)}</b>, split <b>{html.escape(recipe.dataset.split)}</b> "
               f"fold <b>{html.escape(str(metrics.get('fold')))}</b>: "
               + ", ".join(f"{p} {metrics[p]['clips']} clips" for p in parts)
               + f". {metrics['params']:,} parameters, {metrics['epochs']} epochs (best {metrics['best_epoch']}), "
               f"{metrics['train_seconds']:.0f} s on {html.escape(metrics['device'])}.</p>")
    out = [f"<h2>{html.escape(run_dir.name)}</h2>", summary, metrics_table(metrics),
           "<h3>Training curves</h3>", embed(plots.plot_curves([run_dir]), run_dir / "plots" / "curves.png"),
           "<h3>Classification report (test)</h3>" if "test" in metrics else "",
           class_report(metrics) if "test" in metrics else "",
           "<h3>Confusion matrices</h3>", embed(plots.plot_confusion(run_dir), run_dir / "plots" / "confusion.png")]
    if with_frames:
        examples = frame_examples(run_dir)
        if examples:
            out.append("<h3>Per-frame predictions on test files</h3>")
            out += [f"<p>{html.escape(caption)}</p>{image}" for caption, image, _ in examples]
    out += ["<h3>Config</h3>", f"<pre>{html.escape(config)}</pre>"]
    return "\n".join(out)


def write_report(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """Write ``report.html`` into a single run folder, or a side-by-side comparison of several runs to ``out``."""
    run_dirs = [Path(r) for r in run_dirs]
    for run_dir in run_dirs:
        if not (run_dir / "metrics.json").is_file():
            raise ConfigError(f"{run_dir}: no metrics.json (not a finished run folder)")
    if len(run_dirs) == 1:
        body = run_section(run_dirs[0])
        title = f"sonogram run {run_dirs[0].name}"
        path = Path(out) if out else run_dirs[0] / "report.html"
    else:
        rows = []
        for run_dir in run_dirs:
            m = plots.read_metrics(run_dir)
            rows.append([run_dir.name, m["recipe"], m["dataset"], m["split"], str(m.get("fold")), m["params"],
                         m["test"]["accuracy"], m["test"]["macro_f1"], f"{m['train_seconds']:.0f}"])
        body = "\n".join([
            "<h2>Comparison</h2>",
            table(["run", "recipe", "dataset", "split", "fold", "params", "test accuracy", "test macro-F1",
                   "train s"], rows),
            embed(plots.plot_curves(run_dirs)),
            '<div class="runs">' + "".join(f"<div>{run_section(r, with_frames=False)}</div>" for r in run_dirs)
            + "</div>"])
        title = "sonogram comparison: " + ", ".join(r.name for r in run_dirs)
        path = Path(out) if out else Path("report.html")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    from sonogram.engine.train import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, page)
    return path
