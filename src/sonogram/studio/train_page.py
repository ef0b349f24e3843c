"""Train: a recipe with the dataset, split, design and main settings chosen here, trained in the background
into an ordinary run folder; a live training graph read from the folder's ``history.csv`` (so it survives a
browser reload and a studio restart); stop and resume."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from sonogram.data import LOADERS
from sonogram.errors import ConfigError, RunError
from sonogram.recipe import bundled_recipes
from sonogram.reports.plots import plot_curves
from sonogram.service import catalogue
from sonogram.service.jobs import JobBoard
from sonogram.service.results import run_details
from sonogram.service.training import resolve_recipe
from sonogram.studio.common import Places, guarded, run_choices
from sonogram.studio.figures import released

RECIPE_DESIGN, PAGE_DESIGN = "the recipe's own", "the Design page's"
POLL_SECONDS = 1.0


def overrides(dataset: str | None, split: str, design_choice: str, design: dict | None,
              epochs: float | None, batch_size: float | None, lr: float | None) -> list[str]:
    """``--set`` overrides for the form's choices; blank (or zero) fields keep the recipe's values."""
    out = ["train.progress=false"]
    if dataset:
        out.append(f"dataset.name={dataset}")
    if split.strip():
        out.append(f"dataset.split={split.strip()}")
    if design_choice == PAGE_DESIGN:
        if not design:
            raise ConfigError("the Design page has no design yet; open it or choose another design")
        out.append(f"design={json.dumps(design)}")
    elif design_choice != RECIPE_DESIGN:
        out.append(f"design={json.dumps(catalogue.preset(design_choice))}")
    for key, value, kind in (("train.epochs", epochs, int), ("train.batch_size", batch_size, int), ("optim.lr", lr, float)):
        if value:  # a cleared gr.Number gives 0, never a valid setting here
            out.append(f"{key}={kind(value)}")
    return out


def build(places: Places, board: JobBoard, design_state: gr.State) -> None:
    """Lay out the Train page inside the current ``gr.Tab``."""
    with gr.Row():
        recipe = gr.Dropdown([name for name, _ in bundled_recipes()], value="fsdd_fast", allow_custom_value=True,
                             label="recipe (a bundled name or a YAML path)", elem_id="train-recipe", scale=3)
        dataset = gr.Dropdown(sorted(LOADERS), value=None, label="dataset (blank: the recipe's)", scale=2)
        split = gr.Textbox(label="split (blank: the recipe's)", scale=2)
        design = gr.Dropdown([RECIPE_DESIGN, PAGE_DESIGN, *catalogue.presets()], value=RECIPE_DESIGN,
                             label="design", scale=2, elem_id="train-design")
    with gr.Row():
        epochs = gr.Number(None, label="epochs (0: the recipe's)", precision=0, elem_id="train-epochs")
        batch_size = gr.Number(None, label="batch size (0: the recipe's)", precision=0)
        lr = gr.Number(None, label="learning rate (0: the recipe's)")
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
    with gr.Row():
        run = gr.Dropdown(run_choices(places), label="run", elem_id="train-run", scale=4, allow_custom_value=True)
        refresh = gr.Button("↻ runs", scale=1)
        stop = gr.Button("Stop after this epoch", scale=1, elem_id="train-stop")
        resume = gr.Button("Resume", scale=1, elem_id="train-resume")
    message = gr.Markdown(elem_id="train-message")
    status = gr.Markdown(elem_id="train-status")
    graph = gr.Plot(label="training graph", elem_id="train-graph")
    drawn = gr.State("")
    timer = gr.Timer(POLL_SECONDS)

    @guarded(outputs=2)
    def begin(name, dataset_name, split_text, design_choice, design_value, n_epochs, batch, rate):
        if not name:
            raise ConfigError("choose a recipe")
        sets = overrides(dataset_name, split_text or "", design_choice, design_value, n_epochs, batch, rate)
        job = board.start(resolve_recipe(name, sets, places.data_root), places.runs, command="sonogram studio")
        return gr.update(choices=run_choices(places) + [str(job.run_dir)], value=str(job.run_dir)), ""

    @guarded(outputs=1)
    def halt(path):
        if board.stop(path or ""):
            return "stopping after the current epoch (the run folder stays resumable)"
        return "too late to stop: training is over and the final evaluation has begun, so the run will finish"

    @guarded(outputs=1)
    def again(path):
        if not path:
            raise RunError("choose a stopped run to resume")
        board.resume(path, command="sonogram studio")
        return f"resuming {path}"

    start.click(begin, [recipe, dataset, split, design, design_state, epochs, batch_size, lr], [run, message])
    stop.click(halt, run, message)
    resume.click(again, run, message)
    refresh.click(lambda: gr.update(choices=run_choices(places)), outputs=run)
    timer.tick(lambda path, seen: follow(board, path, seen), [run, drawn], [graph, status, drawn])


def follow(board: JobBoard, path: str | None, seen: str):
    """``(graph, status, key)``: the graph is redrawn only when the run or its number of epochs changed."""
    if not path or not Path(path).is_dir():
        return gr.skip(), "", seen
    try:
        details = run_details(path)
    except RunError as exc:
        return gr.skip(), f"**⚠ {exc}**", seen
    rows, job = details["history"], board.get(path)
    epochs = details["config"].get("train", {}).get("epochs", "?")
    state = details["state"]
    if job is not None and job.running:
        if job.phase == "evaluating":
            state = "finishing evaluation"
        elif job.stop_requested:
            state = "stopping after this epoch"
        else:
            state = "training" if rows or job.history else "waiting to start"
    elif job is not None and job.state == "failed":
        state = f"failed: {job.error}"
    status = f"**{Path(path).name}**: {state} · epoch {len(rows)} of {epochs}"
    if rows:
        last = rows[-1]
        status += (f" · train loss {last['train_loss']:.3f}, val loss {last['val_loss']:.3f}, "
                   f"val accuracy {last['val_accuracy']:.3f}")
    key = f"{path}:{len(rows)}"
    if key == seen or not rows:
        return gr.skip(), status, seen
    return released(plot_curves([(Path(path).name, rows)])), status, key
