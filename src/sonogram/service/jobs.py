"""The background trainings of one long-lived process (a studio, a server), by run folder.

Two requests that start a training at the same moment get two different run folders (the folder of a
queued job is empty until it starts, so choosing it alone would hand it out twice), and a run that is
training cannot be resumed a second time. One training runs at a time; the others wait their turn.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sonogram.errors import RunError
from sonogram.recipe import Recipe
from sonogram.runs import free_run_dir
from sonogram.service.training import Job, start_resume, start_training


class JobBoard:
    """Start, stop and resume background trainings; ``jobs`` maps a run folder's path to its :class:`Job`."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _active(self) -> set[str]:
        return {path for path, job in self.jobs.items() if job.running}

    def start(self, recipe: Recipe, runs_dir: str | Path, command: str | None = None) -> Job:
        """Train ``recipe`` into a new folder under ``runs_dir`` named after it (numbered if taken)."""
        with self._lock:
            base = Path(runs_dir) / recipe.name
            out, n = free_run_dir(base), 1
            while str(out) in self._active():
                n += 1
                out = free_run_dir(base.with_name(f"{base.name}-{n}"))
            job = start_training(recipe, out, command=command)
            self.jobs[str(out)] = job
            return job

    def resume(self, run_dir: str | Path, command: str | None = None) -> Job:
        """Continue an interrupted run; refuses one that is training now."""
        with self._lock:
            if str(run_dir) in self._active():
                raise RunError(f"{run_dir} is training now; stop it before resuming it")
            job = start_resume(run_dir, command=command)
            self.jobs[str(run_dir)] = job
            return job

    def stop(self, run_dir: str | Path) -> bool:
        """Ask the training of ``run_dir`` to stop after its current epoch; ``False`` when that comes too late
        (its training is over and the final evaluation has begun, so the run will finish)."""
        job = self.jobs.get(str(run_dir))
        if job is None:
            raise RunError(f"{run_dir} is not training in this studio")
        if not job.running:
            raise RunError(f"{run_dir} has already {job.state}; there is nothing to stop")
        return job.stop()

    def get(self, run_dir: str | Path) -> Job | None:
        return self.jobs.get(str(run_dir))
