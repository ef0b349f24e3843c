"""Train or cross-validate a recipe: in the foreground (returns the result) or as a background
:class:`Job` that streams progress events and can be stopped and resumed.

Every run is an ordinary run folder (see :mod:`sonogram.runs`): a job survives a browser reload or a
restart of whatever started it, and shows up in ``sonogram`` commands. Events are plain dicts:

- ``{"event": "started", "run": path}``
- ``{"event": "fold", "fold": name, "index": i, "folds": n, "state": ...}`` (cross-validation)
- ``{"event": "epoch", "fold", "epoch", "epochs", "train_loss", "train_accuracy", "train_macro_f1",
  "val_loss", "val_accuracy", "val_macro_f1", "lr", "seconds"}``
- ``{"event": "evaluating", "fold"}`` when a run's training is done and its final evaluation begins
  (``"more_folds": True`` in a cross-validation with folds still to come)
- ``{"event": "finished", "metrics" | "summary": ...}``, ``{"event": "stopped", "message"}`` or
  ``{"event": "failed", "error"}``
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sonogram.errors import Interrupted, SonogramError
from sonogram.recipe import Recipe, load_recipe
from sonogram.runs import Run, free_run_dir

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict], None]


def resolve_recipe(recipe: str | os.PathLike | Recipe, overrides: list[str] = (),
                   data_root: str | os.PathLike | None = None) -> Recipe:
    """A recipe from a path or a bundled name (or as given), with ``--set`` overrides and a data root."""
    overrides = list(overrides)
    if data_root:
        overrides.append(f"dataset.data_root={data_root}")
    if isinstance(recipe, Recipe):
        from sonogram.config import to_dict
        from sonogram.recipe import recipe_from_dict

        return recipe_from_dict(to_dict(recipe), overrides)
    return load_recipe(recipe, overrides)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    report: Path | None


def train(recipe: Recipe, out: str | os.PathLike | None = None, progress: ProgressFn | None = None,
          stop: threading.Event | None = None, command: str | None = None, report: bool = True,
          runs_dir: str | os.PathLike = "runs") -> TrainResult:
    """Train ``recipe`` into ``out`` (default ``runs/NAME``, numbered if taken), evaluate, write the report."""
    from sonogram.engine.train import train_run

    run_dir = Path(out) if out else free_run_dir(Path(runs_dir) / recipe.name)
    if progress is not None:
        progress({"event": "started", "run": str(run_dir)})
    metrics = train_run(recipe, run_dir, progress=progress, stop=stop, command=command)
    return TrainResult(run_dir, metrics, _write_report(run_dir) if report and metrics is not None else None)


def resume(run_dir: str | os.PathLike, progress: ProgressFn | None = None, stop: threading.Event | None = None,
           command: str | None = None, report: bool = True) -> TrainResult:
    """Continue an interrupted run from its last checkpoint with the recipe saved in its folder."""
    from sonogram.engine.train import train_run

    run = Run(run_dir)
    recipe = run.recipe()
    if progress is not None:
        progress({"event": "started", "run": str(run.path)})
    metrics = train_run(recipe, run.path, resume=True, progress=progress, stop=stop, command=command)
    return TrainResult(run.path, metrics, _write_report(run.path) if report and metrics is not None else None)


@dataclass
class CVResult:
    out_dir: Path
    summary: dict
    report: Path | None


def cross_validate(recipe: Recipe, out: str | os.PathLike | None = None, progress: ProgressFn | None = None,
                   stop: threading.Event | None = None, command: str | None = None, report: bool = True,
                   runs_dir: str | os.PathLike = "runs") -> CVResult:
    """Every fold of the recipe's split (finished folds kept, an interrupted one resumed), then ``cv.json``
    and a cross-validation report; each fold's own report is written as it finishes."""
    from sonogram.engine.cv import run_cv

    out_dir = Path(out) if out else Path(runs_dir) / f"{recipe.name}-cv"
    summary = run_cv(recipe, out_dir, progress=progress, stop=stop, command=command)
    if report:
        for fold in summary["folds"]:
            fold_run = Run(out_dir / fold["run"])
            if not fold_run.report_path.is_file():
                _write_report(fold_run.path)
    return CVResult(out_dir, summary, _write_report(out_dir) if report and summary["folds"] else None)


def _write_report(path: Path) -> Path:
    from sonogram.reports.report import write_report

    return write_report([path])


class Job:
    """A training or cross-validation running in a background thread.

    Read progress with :meth:`events` (non-blocking) or :meth:`wait`; :meth:`stop` ends training after
    the current epoch, leaving a resumable run folder. ``state`` is ``running``, ``finished``,
    ``stopped`` or ``failed``; ``result`` and ``error`` hold the outcome. While running, ``phase`` is
    ``training`` or ``evaluating`` (the last training is done: a stop comes too late to keep the run
    resumable), and ``stop_requested`` says whether a stop was accepted.

    Example (not run here: it trains)::

        job = start_training(resolve_recipe("fsdd_fast"), "runs/demo")
        for event in job.follow():
            print(event)
    """

    def __init__(self, target: Callable[..., object], run_dir: Path):
        self.run_dir = run_dir
        self.state = "running"
        self.result: object = None
        self.error: str | None = None
        self.history: list[dict] = []
        self.started = time.time()
        self.phase = "training"
        self._queue: queue.Queue[dict] = queue.Queue()
        self._stop = threading.Event()
        self._phase_lock = threading.Lock()  # a stop and the move to evaluating never interleave
        self._thread = threading.Thread(target=self._run, args=(target,), name=f"sonogram-job-{run_dir.name}",
                                        daemon=True)
        self._thread.start()

    def _emit(self, event: dict) -> None:
        if event["event"] == "evaluating" and not event.get("more_folds"):
            with self._phase_lock:
                self.phase = "evaluating"
        elif event["event"] == "fold":
            with self._phase_lock:
                self.phase = "training"
        self.history.append(event)
        self._queue.put(event)

    def _run(self, target: Callable[..., object]) -> None:
        try:
            self.result = target(progress=self._emit, stop=self._stop)
        except Interrupted as exc:
            self.state = "stopped"
            self._emit({"event": "stopped", "message": str(exc)})
        except SonogramError as exc:
            self.state, self.error = "failed", str(exc)
            self._emit({"event": "failed", "error": str(exc)})
        except Exception as exc:  # a bug: keep the door alive and say what happened
            log.exception("training job failed")
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            self._emit({"event": "failed", "error": self.error})
        else:
            self.state = "finished"
            outcome = getattr(self.result, "metrics", None) or getattr(self.result, "summary", None)
            self._emit({"event": "finished", "run": str(self.run_dir), "result": outcome})

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> bool:
        """Ask training to stop after the current epoch (which is checkpointed, so it can be resumed).

        Returns ``False``, and asks nothing, when it comes too late: training is over and the final
        evaluation has begun (or the job has ended), so the run will finish rather than stay resumable.
        """
        with self._phase_lock:
            if self.phase != "training" or not self.running:
                return False
            self._stop.set()
            return True

    def events(self) -> list[dict]:
        """Events that arrived since the last call, without waiting."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def follow(self, poll: float = 0.2):
        """Yield events as they arrive until the job ends."""
        while self.running or not self._queue.empty():
            try:
                yield self._queue.get(timeout=poll)
            except queue.Empty:
                continue

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (or ``timeout`` seconds pass); returns ``state``."""
        self._thread.join(timeout)
        return self.state


# Only one training may run per process at a time: Lightning seeds and patches process-wide state.
_LOCK = threading.Lock()


def _exclusive(fn: Callable[..., object]) -> Callable[..., object]:
    def run(**kwargs):
        with _LOCK:
            return fn(**kwargs)
    return run


def start_training(recipe: Recipe, out: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs",
                   command: str | None = None) -> Job:
    """Start :func:`train` in the background; the run folder is chosen now, so a door can show it at once."""
    run_dir = Path(out) if out else free_run_dir(Path(runs_dir) / recipe.name)
    Run(run_dir).check_free()
    return Job(_exclusive(lambda progress, stop: train(recipe, run_dir, progress, stop, command)), run_dir)


def start_resume(run_dir: str | os.PathLike, command: str | None = None) -> Job:
    """Continue an interrupted run in the background."""
    return Job(_exclusive(lambda progress, stop: resume(run_dir, progress, stop, command)), Path(run_dir))


def start_cross_validation(recipe: Recipe, out: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs",
                           command: str | None = None) -> Job:
    """Start :func:`cross_validate` in the background."""
    out_dir = Path(out) if out else Path(runs_dir) / f"{recipe.name}-cv"
    return Job(_exclusive(lambda progress, stop: cross_validate(recipe, out_dir, progress, stop, command)), out_dir)
