"""Datasets found under the data root, each a :class:`Corpus` of labelled clips with split protocols."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from sonogram.data import audiomnist, folder, fsdd, multi, speech_commands
from sonogram.data.base import Clip, Corpus, DatasetError, Split, speaker_overlap
from sonogram.data.download import Source, download_and_extract
from sonogram.data.root import resolve_data_root

LOADERS: dict[str, Callable[..., Corpus]] = {
    "fsdd": fsdd.load,
    "speech_commands": speech_commands.load,
    "speech_commands_test": speech_commands.load_test_set,
    "audiomnist": audiomnist.load,
    "folder": folder.load,
    "multi": multi.load,
}

__all__ = ["LOADERS", "Clip", "Corpus", "DatasetError", "Split", "WaveformDataset", "WaveformSpec",
           "build_cache", "download", "load_dataset", "resolve_data_root", "speaker_overlap", "SOURCES"]

SOURCES: dict[str, Source] = {
    "fsdd": fsdd.SOURCE,
    "speech_commands_v0.01": speech_commands.VERSIONS["v0.01"],
    "speech_commands_v0.02": speech_commands.VERSIONS["v0.02"],
    "audiomnist": audiomnist.SOURCE,
}


def __getattr__(name: str):
    """The cache's names, imported on first use: it needs torch, and the package must not (the CLI's
    parser and a serve-only install, which has no torch, import it)."""
    if name in ("WaveformDataset", "WaveformSpec", "build_cache"):
        from sonogram.data import cache

        return getattr(cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(name: str, data_root: str | os.PathLike | None = None, **options) -> Corpus:
    """Load a dataset by name; ``options`` are the loader's keyword arguments (e.g. ``task="12"``)."""
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; valid: {', '.join(LOADERS)}")
    loader = LOADERS[name]
    valid = [p for p in inspect.signature(loader).parameters if p != "root"]
    bad = sorted(set(options) - set(valid))
    if bad:
        raise DatasetError(f"dataset {name!r} has no option(s) {bad}; valid options: {valid or 'none'}")
    return loader(resolve_data_root(data_root), **options)


def download(source_name: str, data_root: str | os.PathLike | None = None) -> Path:
    """Download and unpack a public dataset into the data root."""
    if source_name not in SOURCES:
        raise DatasetError(f"nothing to download for {source_name!r}; valid: {', '.join(SOURCES)}")
    return download_and_extract(SOURCES[source_name], resolve_data_root(data_root))
