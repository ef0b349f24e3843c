"""Open a model and run the app on uvicorn (``sonogram serve``)."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI

from sonogram.inference.backend import open_model
from sonogram.serve.app import create_app
from sonogram.serve.config import ServeConfig

log = logging.getLogger("sonogram.serve")


def open_app(model_path: str, config: ServeConfig, backend: str | None = None) -> FastAPI:
    """The app for ``model_path``: a run folder (torch) or an exported ``.onnx`` (onnxruntime, no torch)."""
    return create_app(open_model(model_path, backend, config.threads), config)


def run_server(model_path: str, config: ServeConfig, host: str = "127.0.0.1", port: int = 8000,
               backend: str | None = None) -> None:
    """Serve until interrupted; access lines and the start-up line go to stderr."""
    import uvicorn

    app = open_app(model_path, config, backend)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.info("serving %s on http://%s:%d (max_batch %d, token %s)", model_path, host, port, config.max_batch,
             "required" if config.token else "off")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
