"""The run folder: the one module that knows its file names, and how each file is written and read.

A run folder (the contract in DESIGN.md) holds::

    config.yaml     the resolved recipe          labels.json    class names in index order
    model.pt        best weights + design        metrics.json   per-part metrics, params, times
    history.csv     one row per epoch            run.json       provenance and split fingerprints
    plots/, report.html, tensorboard/, and while training checkpoints/last.ckpt (for resume)

A cross-validation folder holds ``config.yaml``, ``cv.json`` and one run folder per fold.
Every write goes through :func:`sonogram.atomic.atomic_write`; every damaged or missing file is a
one-line :class:`RunError` naming it.

Example:
    >>> import tempfile
    >>> run = Run(tempfile.mkdtemp())
    >>> run.state
    'empty'
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import yaml

from sonogram import __version__
from sonogram.atomic import orphaned_temporaries, write_bytes
from sonogram.errors import RunError

CONFIG = "config.yaml"
LABELS = "labels.json"
MODEL = "model.pt"
METRICS = "metrics.json"
HISTORY = "history.csv"
PROVENANCE = "run.json"
REPORT = "report.html"
PLOTS = "plots"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
CV_SUMMARY = "cv.json"

HISTORY_FIELDS = ["epoch", "train_loss", "train_accuracy", "train_macro_f1", "val_loss", "val_accuracy",
                  "val_macro_f1", "lr", "seconds"]


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically, naming the file and the space it needed when the disk is full."""
    write_bytes(path, text.encode())


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: damaged ({type(exc).__name__}); it cannot be read") from None


def fingerprint(items: Iterable[str]) -> str:
    """A short, order-independent SHA-1 of strings (e.g. ``label/relative-path`` of a split's clips)."""
    digest = hashlib.sha1()
    for item in sorted(items):
        digest.update(item.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:16]


def git_commit() -> str | None:
    """The commit of the sonogram checkout this code runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(command: str | None = None) -> dict:
    """Who made a run, with what, and how: versions, commit, command line or API call, host and user."""
    import torch  # imported here: reading a run's files never needs it

    return {"sonogram": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "commit": git_commit(), "host": platform.node(),
            "user": _user(), "command": command or " ".join(sys.argv), "started": _now()}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Run:
    """One run folder. Creating, reading and finishing it go through here and nowhere else."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- paths -------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def plots_dir(self) -> Path:
        return self.path / PLOTS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def last_checkpoint(self) -> Path:
        return self.path / CHECKPOINTS / LAST_CHECKPOINT

    @property
    def partial_checkpoint(self) -> Path:
        """Where ``last.ckpt`` is written before it is renamed into place (Lightning writes it, not us)."""
        return self.path / CHECKPOINTS / f".{LAST_CHECKPOINT}.tmp"

    # --- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``empty`` (nothing there), ``finished``, ``resumable``, ``started`` (no epoch done) or ``cv``."""
        if (self.path / CV_SUMMARY).is_file():
            return "cv"
        if self.metrics_path.is_file():
            return "finished"
        if self.last_checkpoint.is_file():
            return "resumable"
        if self.config_path.is_file():
            return "started"
        return "empty"

    def check_free(self) -> None:
        """Refuse a path that is a file, or a folder that already holds anything."""
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"{self.path} is a file, not a folder; pick another --out")
        if self.path.is_dir() and any(self.path.iterdir()):
            hint = (f"continue it with: sonogram train --resume {self.path}" if self.state == "resumable"
                    else "pick another --out")
            raise RunError(f"{self.path} already holds files; {hint}")

    # --- writing -----------------------------------------------------------------------------------
    def create(self, config: dict, labels: list[str], info: dict) -> None:
        """Start a new run: ``config.yaml``, ``labels.json`` and ``run.json``; refuses a taken folder."""
        self.check_free()
        try:
            (self.path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the run folder {self.path}: {exc.strerror or exc}") from None
        write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))
        write_json(self.path / LABELS, list(labels))
        write_json(self.path / PROVENANCE, info)

    def write_history(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.history_path, buffer.getvalue())

    def finish(self, metrics: dict, device: str) -> None:
        """Write ``metrics.json``, stamp the end time in ``run.json`` and drop the resume checkpoint."""
        write_json(self.metrics_path, metrics)
        info = self.provenance() if (self.path / PROVENANCE).is_file() else {}
        info.update({"finished": _now(), "device": device})
        write_json(self.path / PROVENANCE, info)
        self.last_checkpoint.unlink(missing_ok=True)

    def remove_orphans(self) -> None:
        """Delete temporary files that a killed process (``kill -9``, a power cut) left half-written."""
        for folder in (self.path, self.path / CHECKPOINTS, self.plots_dir):
            for orphan in orphaned_temporaries(folder):
                orphan.unlink(missing_ok=True)
        self.partial_checkpoint.unlink(missing_ok=True)

    def update_provenance(self, **fields) -> None:
        info = self.provenance() if (self.path / PROVENANCE).is_file() else {}
        info.update(fields)
        write_json(self.path / PROVENANCE, info)

    # --- reading -----------------------------------------------------------------------------------
    def require(self) -> None:
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run folder")
        if not self.config_path.is_file():
            raise RunError(f"{self.path}: not a run folder (no {CONFIG})")

    def config(self) -> dict:
        """The resolved recipe as plain data."""
        self.require()
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RunError(f"{self.config_path}: damaged ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise RunError(f"{self.config_path}: damaged (not a mapping)")
        return data

    def recipe(self):
        """The resolved recipe as a :class:`sonogram.recipe.Recipe`."""
        from sonogram.errors import ConfigError
        from sonogram.recipe import recipe_from_dict

        try:
            return recipe_from_dict(self.config())
        except ConfigError as exc:
            raise RunError(f"{self.config_path}: {exc}") from None

    def labels(self) -> list[str]:
        labels = read_json(self.path / LABELS)
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise RunError(f"{self.path / LABELS}: damaged (expected a list of class names)")
        return labels

    def metrics(self) -> dict:
        self.require()
        if not self.metrics_path.is_file():
            raise RunError(f"{self.path}: not finished (no {METRICS}); "
                           f"continue it with: sonogram train --resume {self.path}")
        metrics = read_json(self.metrics_path)
        if not isinstance(metrics, dict):
            raise RunError(f"{self.metrics_path}: damaged (not a JSON object)")
        return metrics

    def history(self) -> list[dict]:
        """``history.csv`` as rows of floats (``epoch`` as int)."""
        if not self.history_path.is_file():
            raise RunError(f"{self.path}: no {HISTORY} (no epoch finished yet)")
        try:
            rows = list(csv.DictReader(io.StringIO(self.history_path.read_text())))
            return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if k in HISTORY_FIELDS}
                    for row in rows]
        except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
            raise RunError(f"{self.history_path}: damaged ({type(exc).__name__})") from None

    def provenance(self) -> dict:
        info = read_json(self.path / PROVENANCE)
        if not isinstance(info, dict):
            raise RunError(f"{self.path / PROVENANCE}: damaged (not a JSON object)")
        return info

    def model(self, device: str = "cpu"):
        """The best network (eval mode) and its checkpoint dict (``labels``, ``align``, ``epoch``, ...)."""
        from sonogram.network.checkpoint import load_checkpoint

        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run folder")
        if not self.model_path.is_file():
            raise RunError(f"{self.path}: no {MODEL} yet (is training still running, or was it interrupted?)")
        return load_checkpoint(self.model_path, device)

    def summary(self) -> dict:
        """What a listing shows: name, state, recipe, dataset, test accuracy, epochs."""
        row = {"path": str(self.path), "name": self.path.name, "state": self.state}
        try:
            config = self.config()
            row.update(recipe=config.get("name"), dataset=config.get("dataset", {}).get("name"))
            if row["state"] == "finished":
                metrics = self.metrics()
                row.update(test_accuracy=metrics.get("test", {}).get("accuracy"), epochs=metrics.get("epochs"))
        except RunError as exc:
            row.update(state="damaged", error=str(exc))
        return row


def list_runs(folder: str | os.PathLike) -> list[Run]:
    """Run folders directly under ``folder`` (and cross-validation folders), newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    runs = [Run(p) for p in folder.iterdir() if p.is_dir() and ((p / CONFIG).is_file())]
    return sorted(runs, key=lambda r: r.config_path.stat().st_mtime, reverse=True)


def free_run_dir(base: str | os.PathLike) -> Path:
    """``base``, or ``base-2``, ``base-3``, ...: the first that holds nothing, so a new run never lands on one."""
    base = Path(base)
    candidate, n = base, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


# --- cross-validation folders ----------------------------------------------------------------------
def fold_dir(out_dir: str | os.PathLike, index: int, name: str) -> Path:
    return Path(out_dir) / f"fold-{index:02d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"


def cv_config_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / CONFIG


def write_cv_summary(out_dir: str | os.PathLike, summary: dict) -> None:
    write_json(Path(out_dir) / CV_SUMMARY, summary)


def read_cv_summary(out_dir: str | os.PathLike) -> dict:
    summary = read_json(Path(out_dir) / CV_SUMMARY)
    if not isinstance(summary, dict) or not isinstance(summary.get("folds"), list):
        raise RunError(f"{Path(out_dir) / CV_SUMMARY}: damaged (no list of folds)")
    return summary


def is_cv_folder(path: str | os.PathLike) -> bool:
    return (Path(path) / CV_SUMMARY).is_file()
