"""Cross-validation: every fold of a recipe's split as its own run folder, summarised in ``cv.json``.

Folds already finished are kept; an interrupted fold continues from its last checkpoint.
"""

from __future__ import annotations

import copy
import logging
import shutil
import threading
from pathlib import Path

import yaml

from sonogram.config import load_yaml, to_dict
from sonogram.data.loaders import load_corpus
from sonogram.engine.train import HARDWARE_KEYS, ProgressFn, train_run
from sonogram.errors import ConfigError, Interrupted, RunError
from sonogram.evaluate import mean_std
from sonogram.recipe import Recipe
from sonogram.runs import LABELS, Run, cv_config_path, fold_dir, write_cv_summary, write_text

log = logging.getLogger(__name__)


def _check_same_recipe(out_dir: Path, recipe: Recipe) -> None:
    """A cv folder holds one recipe: resuming with a different one would mix incomparable folds."""
    saved = cv_config_path(out_dir)
    resolved = to_dict(recipe)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file, not a folder; pick another --out")
    if (out_dir / LABELS).is_file():
        raise RunError(f"{out_dir} is a training run folder, not a cross-validation one; pick another --out")
    if not saved.is_file() and out_dir.is_dir() and any(out_dir.iterdir()):
        raise RunError(f"{out_dir} already holds files that are not a cross-validation; pick another --out")
    if saved.is_file():
        previous = load_yaml(saved)
        for key in HARDWARE_KEYS:  # where it runs may change between sessions, not what it trains
            previous.get("train", {}).pop(key, None)
            resolved["train"].pop(key, None)
        if previous != resolved:
            raise ConfigError(f"{out_dir} holds cross-validation of a different recipe; pick another --out")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text(saved, yaml.safe_dump(to_dict(recipe), sort_keys=False))


def run_cv(recipe: Recipe, out_dir: str | Path, progress: ProgressFn | None = None,
           stop: threading.Event | None = None, command: str | None = None) -> dict:
    """Train and evaluate every fold; returns (and writes) the ``cv.json`` summary.

    ``progress`` receives a ``fold`` event as each fold starts, then the epoch and ``evaluating`` events of
    its training (see :func:`train_run`).
    """
    out_dir = Path(out_dir)
    corpus = load_corpus(recipe)
    splits = corpus.splits(recipe.dataset.split, recipe.seed)
    _check_same_recipe(out_dir, recipe)
    folds = []
    for index, split in enumerate(splits):
        run = Run(fold_dir(out_dir, index, split.name))
        fold_recipe = copy.deepcopy(recipe)
        fold_recipe.dataset.fold = index
        if progress is not None:
            progress({"event": "fold", "fold": split.name, "index": index + 1, "folds": len(splits),
                      "state": run.state})
        if run.state == "finished":
            log.info("fold %s already finished", split.name)
            metrics = run.metrics()
        else:
            resume = run.state == "resumable"
            if not resume and run.path.exists():  # started but not one epoch finished: nothing worth keeping
                shutil.rmtree(run.path)
            try:
                metrics = train_run(fold_recipe, run.path, index, resume=resume, corpus=corpus,
                                    progress=_more_folds_after(progress, index + 1 < len(splits)), stop=stop,
                                    command=command)
            except Interrupted:
                again = command or f"sonogram cv RECIPE --out {out_dir}"
                raise Interrupted(f"cross-validation stopped in fold {index + 1}/{len(splits)} ({split.name}); "
                                  f"finished folds are kept: continue with {again}") from None
        if metrics is None:  # a non-zero DDP rank
            continue
        folds.append({"fold": split.name, "run": run.path.name, "test_accuracy": metrics["test"]["accuracy"],
                      "test_macro_f1": metrics["test"]["macro_f1"], "val_accuracy": metrics["val"]["accuracy"],
                      "test_clips": metrics["test"]["clips"], "train_seconds": metrics["train_seconds"],
                      "epochs": metrics["epochs"]})
        write_cv_summary(out_dir, summarise(recipe, folds, len(splits)))
    return summarise(recipe, folds, len(splits))


def _more_folds_after(progress: ProgressFn | None, more: bool) -> ProgressFn | None:
    """``progress`` with ``"more_folds": True`` added to a fold's ``evaluating`` event when folds follow it
    (training goes on afterwards, so a stop asked for then still applies)."""
    if progress is None or not more:
        return progress
    return lambda event: progress({**event, "more_folds": True} if event["event"] == "evaluating" else event)


def summarise(recipe: Recipe, folds: list[dict], total: int) -> dict:
    summary = {"recipe": recipe.name, "dataset": recipe.dataset.name, "split": recipe.dataset.split,
               "complete": len(folds) == total, "folds": folds}
    if folds:
        summary["test_accuracy"] = mean_std([f["test_accuracy"] for f in folds])
        summary["test_macro_f1"] = mean_std([f["test_macro_f1"] for f in folds])
        summary["train_seconds"] = round(sum(f["train_seconds"] for f in folds), 2)
    return summary


def cv_table(summary: dict) -> str:
    lines = [f"{'fold':<26}{'test acc':>10}{'macro-F1':>10}{'clips':>8}{'epochs':>8}{'seconds':>10}"]
    for f in summary["folds"]:
        lines.append(f"{f['fold']:<26}{f['test_accuracy']:>10.4f}{f['test_macro_f1']:>10.4f}{f['test_clips']:>8}"
                     f"{f['epochs']:>8}{f['train_seconds']:>10.1f}")
    if summary["folds"]:
        acc, f1 = summary["test_accuracy"], summary["test_macro_f1"]
        lines.append(f"{'mean +- std':<26}{acc['mean']:>10.4f}{f1['mean']:>10.4f}   (+- {acc['std']:.4f} / "
                     f"{f1['std']:.4f}; worst fold {acc['min']:.4f})")
    return "\n".join(lines)
