"""Finished runs: list them, evaluate one on its own split (checking that the data is still the data it
was trained on), and the data behind every figure (curves, matrices) for a door to draw."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sonogram.errors import RunError
from sonogram.runs import Run, list_runs

log = logging.getLogger(__name__)


def runs_under(folder: str | os.PathLike) -> list[dict]:
    """A row per run folder under ``folder``, newest first: name, state, recipe, dataset, test accuracy."""
    return [run.summary() for run in list_runs(folder)]


def evaluate(run_dir: str | os.PathLike, parts: tuple[str, ...] = ("test",),
             data_root: str | os.PathLike | None = None) -> dict:
    """Metrics of a run's ``model.pt`` on parts of its own split, computed afresh.

    Refuses when the corpus found today is not the one the run was trained on (other classes, or other
    clips in a part than its ``run.json`` fingerprint records), naming what changed.
    """
    from sonogram.data.loaders import prepare_fold
    from sonogram.evaluate import part_metrics

    run = Run(run_dir)
    recipe = run.recipe()
    if data_root:
        recipe.dataset.data_root = str(data_root)
    network, _ = run.model()
    data = prepare_fold(recipe)
    check_same_data(run, data.fingerprints(), parts)
    return part_metrics(network, data, parts)


def check_same_data(run: Run, found: dict, parts: tuple[str, ...]) -> None:
    """Raise :class:`RunError` when the classes or a part's clips differ from what ``run.json`` recorded."""
    try:
        recorded = run.provenance()
    except RunError:
        log.warning("%s has no record of its data (made before sonogram 0.2); evaluating without a check", run.path)
        return
    if "classes" in recorded and recorded["classes"] != found["classes"]:
        raise RunError(f"{run.path} was trained on classes {recorded['classes']} but the dataset now has "
                       f"{found['classes']}; evaluate it on the data it was trained on")
    for part in parts:
        then, now = recorded.get("parts", {}).get(part), found["parts"][part]
        if then and then["fingerprint"] != now["fingerprint"]:
            raise RunError(f"{run.path}: the {part} part had {then['clips']} clips when the run was trained and "
                           f"has {now['clips']} different ones now (files added, removed or renamed in the data root)")


def run_details(run_dir: str | os.PathLike) -> dict:
    """Everything a door shows of one run: labels, recipe, history rows, metrics (when finished), state."""
    run = Run(run_dir)
    details = {"path": str(run.path), "name": run.path.name, "state": run.state, "config": run.config(),
               "labels": run.labels(), "history": run.history() if run.history_path.is_file() else []}
    if run.state == "finished":
        details["metrics"] = run.metrics()
        details["report"] = str(run.report_path) if run.report_path.is_file() else None
    return details


def curves(run_dirs: list[str | os.PathLike]) -> list[tuple[str, list[dict]]]:
    """``(name, history rows)`` per run: the data behind ``plot curves``."""
    return [(Path(r).name, Run(r).history()) for r in run_dirs]


def write_report(paths: list[str | os.PathLike], out: str | os.PathLike | None = None) -> Path:
    """``report.html`` of a run or cross-validation folder, or a comparison of several runs."""
    from sonogram.reports.report import write_report as write

    return write(list(paths), out)
