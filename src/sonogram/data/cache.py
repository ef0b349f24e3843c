"""Decode a corpus once into a memory-mapped ``(clips, samples)`` float32 array, and read batches from it.

The cache file is keyed by the target rate, length, alignment and every source file's path,
size and modification time: a changed source builds a new cache, which replaces the old one of the
same corpus in the same place (its name carries a digest of the folder the clips live in, so copies
of a dataset under two data roots keep a cache each). Writes go to a temporary file that is renamed
into place only when complete, so an interrupted build never leaves a file that later loads as
valid; the temporary file of a build that was killed is removed by the next build.

Example:
    >>> spec = WaveformSpec(sample_rate=8000, length=8000)
    >>> spec.seconds
    1.0
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sonogram.atomic import atomic_write, orphaned_temporaries
from sonogram.audio import DEFAULT_MAX_SECONDS, Align, fix_length, load, resample
from sonogram.data.base import Corpus
from sonogram.data.pcm import read_wav
from sonogram.data.root import resolve_cache_dir

log = logging.getLogger(__name__)

BLOCK = 256  # clips per unit of work for the decoding processes


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
    """Name, location and settings of a cache: what a newer cache of the same corpus replaces."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", corpus.name)
    where = os.path.commonpath([os.path.abspath(clip.path) for clip in corpus.clips]) if corpus.clips else ""
    place = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}-{place}-{spec.sample_rate}hz-{spec.length}-{spec.align}"


def _decode(clip, spec: WaveformSpec) -> np.ndarray:
    """One clip resampled and fixed to ``spec.length``: plain WAV files through numpy, the rest (and every bad file) through :func:`load`."""
    fast = read_wav(clip.path, clip.start, clip.duration, DEFAULT_MAX_SECONDS)
    if fast is None:
        waveform, _ = load(clip.path, spec.sample_rate, start=clip.start, duration=clip.duration)
    else:
        waveform = resample(*fast, spec.sample_rate)
    return fix_length(waveform, spec.length, spec.align)


def _decode_block(clips: list, spec: WaveformSpec) -> np.ndarray:
    """``(len(clips), spec.length)`` float32 waveforms."""
    block = np.empty((len(clips), spec.length), dtype=np.float32)
    for row, clip in zip(block, clips):
        row[:] = _decode(clip, spec)
    return block


def _decode_blocks(clips: list, spec: WaveformSpec, workers: int):
    """Yield decoded blocks of :data:`BLOCK` clips in corpus order, from a process pool when ``workers > 1``."""
    blocks = [clips[i : i + BLOCK] for i in range(0, len(clips), BLOCK)]
    workers = min(workers, len(blocks))
    if workers <= 1:
        yield from (_decode_block(block, spec) for block in blocks)
        return
    # fork: the workers inherit the imported modules instead of importing torch again (seconds);
    # they only run numpy, soundfile and soxr.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(_decode_block, blocks, [spec] * len(blocks))


def build_cache(corpus: Corpus, spec: WaveformSpec, cache_dir: str | os.PathLike | None = None,
                workers: int = 1) -> np.ndarray:
    """Return the corpus decoded as a read-only memory map ``(clips, spec.length)``, building it if needed.

    ``workers`` processes decode blocks of clips in parallel; a bad file stops the build with its
    :class:`AudioError`. One (the default) was fastest on a 2-core machine shared with other jobs
    (``benchmarks/io.py``); more pay off where resampling dominates and cores are free.
    """
    folder = resolve_cache_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(corpus, spec)
    path = folder / f"{prefix}-{cache_key(corpus, spec)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    for orphan in orphaned_temporaries(folder, f"{prefix}-*.npy"):
        log.info("removing %s, left by a build that was killed", orphan)
        orphan.unlink(missing_ok=True)
    log.info("decoding %d clips of %s into %s", len(corpus), corpus.name, path)
    with atomic_write(path) as out:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (len(corpus), spec.length)}
        np.lib.format.write_array_header_2_0(out, header)
        # Sequential writes of blocks decoded in order: filling a fresh memory map page by page is
        # several times slower, and threads only fight over the GIL on clips this short.
        for block in _decode_blocks(corpus.clips, spec, workers):
            out.write(block.data)  # the block's own buffer: no copy
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
