"""Decode a corpus once into a memory-mapped ``(clips, samples)`` float32 array, and read batches from it.

The cache file is keyed by the target rate, length, alignment and every source file's path,
size and modification time: a changed source builds a new cache. Writes go to a temporary file
that is renamed into place only when complete, so an interrupted build never leaves a file that
later loads as valid.

Example:
    >>> spec = WaveformSpec(sample_rate=8000, length=8000)
    >>> spec.seconds
    1.0
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sonogram.atomic import atomic_write
from sonogram.audio import Align, fix_length, load
from sonogram.data.base import Corpus
from sonogram.data.root import resolve_cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaveformSpec:
    """How clips are turned into equal-length waveforms."""

    sample_rate: int
    length: int  # samples per clip after padding/trimming
    align: Align = "center"

    @property
    def seconds(self) -> float:
        return self.length / self.sample_rate


def cache_key(corpus: Corpus, spec: WaveformSpec) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for clip in corpus.clips:
        stat = os.stat(clip.path)
        digest.update(f"{clip.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{clip.start}\0{clip.duration}\n".encode())
    return digest.hexdigest()[:20]


def _prefix(corpus: Corpus, spec: WaveformSpec) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", corpus.name)
    return f"{safe}-{spec.sample_rate}hz-{spec.length}-{spec.align}"


def _decode(clip, spec: WaveformSpec) -> np.ndarray:
    waveform, _ = load(clip.path, spec.sample_rate, start=clip.start, duration=clip.duration)
    return fix_length(waveform, spec.length, spec.align)


def build_cache(corpus: Corpus, spec: WaveformSpec, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Return the corpus decoded as a read-only memory map ``(clips, spec.length)``, building it if needed."""
    folder = resolve_cache_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(corpus, spec)
    path = folder / f"{prefix}-{cache_key(corpus, spec)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    log.info("decoding %d clips of %s into %s", len(corpus), corpus.name, path)
    with atomic_write(path) as out:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (len(corpus), spec.length)}
        np.lib.format.write_array_header_2_0(out, header)
        # Serial decoding and sequential writes: threads only fight over the GIL on clips this
        # short, and filling a fresh memory map page by page is several times slower.
        for clip in corpus.clips:
            out.write(np.ascontiguousarray(_decode(clip, spec), dtype=np.float32).tobytes())
    for stale in folder.glob(f"{prefix}-*.npy"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")


class WaveformDataset(torch.utils.data.Dataset):
    """``(waveform (time,), label)`` pairs read from a cached array.

    Args:
        waveforms: ``(clips, time)`` array, usually from :func:`build_cache`.
        targets: ``(clips,)`` class indices.
        indices: which clips this dataset exposes (a split part); all by default.
    """

    def __init__(self, waveforms: np.ndarray, targets: np.ndarray, indices: np.ndarray | None = None):
        self.waveforms = waveforms
        self.targets = np.asarray(targets)
        self.indices = np.arange(len(targets)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = self.indices[i]
        return torch.from_numpy(np.array(self.waveforms[j], dtype=np.float32)), int(self.targets[j])
