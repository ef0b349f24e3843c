"""Where datasets live: ``--data-root``, else ``$SONOGRAM_DATA``, else a per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sonogram"


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    if data_root is not None:
        return Path(data_root).expanduser()
    if os.environ.get("SONOGRAM_DATA"):
        return Path(os.environ["SONOGRAM_DATA"]).expanduser()
    return default_cache_home() / "data"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of decoded-waveform caches: argument, else ``$SONOGRAM_CACHE``, else the per-user cache."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("SONOGRAM_CACHE"):
        return Path(os.environ["SONOGRAM_CACHE"]).expanduser()
    return default_cache_home() / "waveforms"
