"""Open a model and run the app on uvicorn (``sonogram serve``)."""

from __future__ import annotations

import logging
import socket
import sys

from fastapi import FastAPI

from sonogram.errors import ConfigError
from sonogram.inference.scorers import open_model
from sonogram.serve.app import create_app
from sonogram.serve.config import ServeConfig

log = logging.getLogger("sonogram.serve")


def open_app(model_path: str, config: ServeConfig, backend: str | None = None) -> FastAPI:
    """The app for ``model_path``: a run folder (torch) or an exported ``.onnx`` (onnxruntime, no torch)."""
    return create_app(open_model(model_path, backend, config.threads), config)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (``port`` 0: a free one the system picks, read back with
    ``getsockname``): binding before uvicorn starts means the port named in the start-up line is the
    one served, with no window for another process to take it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock


def run_server(model_path: str, config: ServeConfig, host: str = "127.0.0.1", port: int = 8000,
               backend: str | None = None) -> None:
    """Serve until interrupted; access lines and the start-up line (with the port served) go to stderr."""
    import uvicorn

    app = open_app(model_path, config, backend)
    sock = listening_socket(host, port)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    shown = f"[{host}]" if ":" in host else host
    log.info("serving %s on http://%s:%d (max_batch %d, token %s)", model_path, shown, sock.getsockname()[1],
             config.max_batch, "required" if config.token else "off")
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_level="warning"))
    server.run(sockets=[sock])
