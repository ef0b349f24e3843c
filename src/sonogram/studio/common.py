"""What every studio page shares: where runs and data live, and turning a user error into an inline message."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from sonogram.errors import SonogramError
from sonogram.service.results import runs_under

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Places:
    """The folder runs are written to and read from, and the data root (``None``: the default one)."""

    runs: Path
    data_root: str | None = None


def guarded(outputs: int) -> Callable:
    """Wrap a callback whose last output is the page's message: a :class:`SonogramError` (bad input) leaves
    the other ``outputs - 1`` outputs as they are and shows its message instead of a traceback."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args):
            try:
                return fn(*args)
            except SonogramError as exc:
                return (*[gr.skip()] * (outputs - 1), warning(str(exc)))
            except Exception as exc:  # a bug: keep the page alive and say what happened
                log.exception("studio callback %s failed", fn.__name__)
                return (*[gr.skip()] * (outputs - 1), warning(f"{type(exc).__name__}: {exc}"))

        return run

    return wrap


def warning(message: str) -> str:
    """Markdown for an inline error message."""
    return f"**⚠ {message}**"


def run_choices(places: Places, state: str | None = None) -> list[str]:
    """Paths of the run folders under the runs folder (in ``state`` only, when given), newest first."""
    return [row["path"] for row in runs_under(places.runs) if state is None or row["state"] == state]
