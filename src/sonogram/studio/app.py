"""The studio's Blocks: one tab per page, each built by its own module."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr

from sonogram.data import resolve_data_root
from sonogram.service.jobs import JobBoard
from sonogram.studio import data_page, design_page, inspect_page, train_page, try_page
from sonogram.studio.common import Places

log = logging.getLogger(__name__)

MAX_UPLOAD = "20mb"  # larger uploads are refused by Gradio before any callback runs


def build_app(runs: str | os.PathLike = "runs", data_root: str | os.PathLike | None = None,
              board: JobBoard | None = None) -> gr.Blocks:
    """The studio for run folders under ``runs`` and datasets under ``data_root``; trainings go to ``board``."""
    places = Places(Path(runs), None if data_root is None else str(data_root))
    board = board or JobBoard()
    with gr.Blocks(title="sonogram studio") as app:
        gr.Markdown("# sonogram studio")
        design = gr.State()
        with gr.Tab("Data", id="data"):
            data_page.build(app, places, design)
        with gr.Tab("Design", id="design"):
            design_page.build(app, design)
        with gr.Tab("Train", id="train"):
            train_page.build(places, board, design)
        with gr.Tab("Inspect", id="inspect"):
            inspect_page.build(places)
        with gr.Tab("Try", id="try"):
            try_page.build(places)
    return app


def serve(app: gr.Blocks, runs: str | os.PathLike, data_root: str | os.PathLike | None, host: str = "127.0.0.1",
          port: int | None = None, block: bool = True) -> None:
    """Serve ``app`` on ``host:port`` with uploads capped and the runs and data folders readable; no share link."""
    readable = [str(Path(runs).resolve()), str(resolve_data_root(data_root).resolve())]
    app.queue(default_concurrency_limit=4).launch(server_name=host, server_port=port, share=False,
                                                 max_file_size=MAX_UPLOAD, allowed_paths=readable,
                                                 inbrowser=False, prevent_thread_lock=not block, quiet=not block)


def launch(runs: str | os.PathLike = "runs", data_root: str | os.PathLike | None = None,
           host: str = "127.0.0.1", port: int | None = None) -> None:
    """Build and serve the studio until interrupted; a runs path that is a file or a data root that is not
    there is refused before anything starts."""
    from sonogram.errors import ConfigError, DatasetError

    if Path(runs).exists() and not Path(runs).is_dir():
        raise ConfigError(f"--runs {runs} is a file, not a folder of runs")
    if data_root is not None and not Path(data_root).is_dir():
        raise DatasetError(f"--data-root {data_root}: no such folder")
    log.info("studio for runs in %s", Path(runs).resolve())
    serve(build_app(runs, data_root), runs, data_root, host, port)
