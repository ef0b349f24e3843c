"""Outputs of a network's frozen leading front-end layers (a pretrained embedding), computed once per clip.

A frozen ResNet-50 costs about 20 ms a clip, so an FSDD epoch spent 40 s in it to train a linear head
of 20k parameters. Its outputs never change while the head trains, so the engine stores them beside the
waveform cache, ``(clips, *feature_shape)`` float32, and trains the rest of the network on them. The
file is keyed by the waveform cache it was made from, the cached layers' design entries and the
sonogram version; it is written to a temporary file and renamed into place when complete, like the
waveform cache. Augmentation on the waveform changes what the layers see, so it bypasses the cache.

Example:
    >>> inputs = cached_inputs(network, data.waveforms, cache_dir)     # doctest: +SKIP
    >>> network.forward_from(torch.from_numpy(inputs[:4]), network.cacheable_layers)   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from sonogram import __version__
from sonogram.atomic import atomic_write, orphaned_temporaries
from sonogram.data.root import resolve_cache_dir
from sonogram.network.design import Network

log = logging.getLogger(__name__)

BATCH = 32


def cache_name(network: Network, waveforms: np.ndarray) -> tuple[str, str]:
    """``(prefix, file name)`` of the cache of ``network``'s cacheable layers over ``waveforms``.

    The prefix names the waveforms and the layers (a newer cache with the same prefix replaces the old one);
    the file name adds a digest of everything the outputs depend on.
    """
    start = network.cacheable_layers
    layers = json.dumps(network.design.frontend[:start], sort_keys=True)
    source = getattr(waveforms, "filename", None)
    if source is not None:  # a memory map from the waveform cache, whose name is already a content key
        origin = Path(source).stem
    else:
        origin = hashlib.sha256(np.ascontiguousarray(waveforms).data).hexdigest()[:20]
    digest = hashlib.sha256(f"{origin}\0{layers}\0{__version__}".encode()).hexdigest()[:20]
    names = "+".join(entry.get("name", "?") for entry in network.design.frontend[:start])
    prefix = f"{origin}-{names}"
    return prefix, f"{prefix}-{digest}.npy"


@torch.no_grad()
def cached_inputs(network: Network, waveforms: np.ndarray, cache_dir: str | Path | None = None) -> np.ndarray:
    """``network.frontend[:network.cacheable_layers]`` applied to every clip of ``waveforms`` ``(clips, samples)``,
    as a read-only memory map ``(clips, *shape)``, read from the cache or computed and stored there."""
    folder = resolve_cache_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    prefix, name = cache_name(network, waveforms)
    path = folder / name
    if path.exists():
        return np.load(path, mmap_mode="r")
    for orphan in orphaned_temporaries(folder, f"{prefix}-*.npy"):
        orphan.unlink(missing_ok=True)
    layers = network.frontend[:network.cacheable_layers]
    was_training = layers.training
    layers.eval()
    device = next(network.parameters()).device
    try:
        shape = tuple(layers(torch.zeros(1, waveforms.shape[1], device=device)).shape[1:])
        log.info("computing %s for %d clips into %s", prefix, len(waveforms), path)
        with atomic_write(path) as out:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                      "shape": (len(waveforms), *shape)}
            np.lib.format.write_array_header_2_0(out, header)
            for first in range(0, len(waveforms), BATCH):
                batch = torch.from_numpy(np.array(waveforms[first:first + BATCH], dtype=np.float32)).to(device)
                out.write(np.ascontiguousarray(layers(batch).float().cpu().numpy()).data)
    finally:
        layers.train(was_training)
    for stale in folder.glob(f"{prefix}-*.npy"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")
