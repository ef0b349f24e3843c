"""The data of one training run: corpus, the chosen fold of its split, and the decoded-waveform cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sonogram.data import Corpus, Split, WaveformDataset, WaveformSpec, build_cache, load_dataset
from sonogram.errors import ConfigError
from sonogram.recipe import Recipe
from sonogram.runs import fingerprint


@dataclass
class FoldData:
    """Waveforms ``(clips, num_samples)`` of the whole corpus with one fold's train/val/test indices."""

    corpus: Corpus
    split: Split
    waveforms: np.ndarray

    @property
    def labels(self) -> list[str]:
        return list(self.corpus.classes)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(waveforms, targets)`` of ``train``, ``val`` or ``test``, in corpus order."""
        indices = np.sort(self.split.parts()[name])
        return self.waveforms[indices], self.corpus.targets[indices]

    def dataset(self, name: str) -> WaveformDataset:
        return WaveformDataset(self.waveforms, self.corpus.targets, self.split.parts()[name])

    def fingerprints(self) -> dict:
        """What this fold trains and tests on: the classes and, per part, its clip count and a fingerprint
        of its clips' labels, file names and segments (recorded in ``run.json``, checked by ``evaluate``)."""
        clips = self.corpus.clips
        parts = {}
        for part, indices in self.split.parts().items():
            keys = [f"{clips[i].label}/{Path(clips[i].path).name}@{clips[i].start}" for i in indices]
            parts[part] = {"clips": len(keys), "fingerprint": fingerprint(keys)}
        return {"classes": self.labels, "parts": parts}


def load_corpus(recipe: Recipe) -> Corpus:
    """The recipe's dataset; sets ``recipe.design.num_classes`` to its class count."""
    corpus = load_dataset(recipe.dataset.name, recipe.dataset.data_root, **recipe.dataset.options)
    recipe.design.num_classes = len(corpus.classes)
    return corpus


def prepare_fold(recipe: Recipe, fold: int | None = None, corpus: Corpus | None = None) -> FoldData:
    """Load the dataset, pick fold ``fold`` (default ``recipe.dataset.fold``) and decode or reuse the cache."""
    corpus = corpus or load_corpus(recipe)
    splits = corpus.splits(recipe.dataset.split, recipe.seed)
    fold = recipe.dataset.fold if fold is None else fold
    if not 0 <= fold < len(splits):
        raise ConfigError(f"dataset.fold={fold} but split {recipe.dataset.split!r} of {corpus.name} has "
                          f"{len(splits)} fold(s): 0..{len(splits) - 1}")
    design = recipe.design
    _check_fits_in_memory(len(corpus.clips), design.num_samples)
    spec = WaveformSpec(design.sample_rate, design.num_samples, design.align)
    return FoldData(corpus, splits[fold], build_cache(corpus, spec))


def _check_fits_in_memory(clips: int, num_samples: int) -> None:
    """Refuse a design whose decoded corpus (float32 clips of ``num_samples``) exceeds the machine's memory."""
    needed = clips * num_samples * 4
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > memory:
        raise ConfigError(f"design.num_samples={num_samples}: {clips} clips of it need {needed / 2**30:,.1f} GiB "
                          f"of waveforms, more than this machine's {memory / 2**30:,.1f} GiB of memory")


def train_loader(data: FoldData, batch_size: int, seed: int, num_workers: int = 0) -> torch.utils.data.DataLoader:
    dataset = data.dataset("train")
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                       generator=torch.Generator().manual_seed(seed),
                                       drop_last=len(dataset) > batch_size)


def eval_loader(data: FoldData, part: str, batch_size: int, num_workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(data.dataset(part), batch_size=batch_size, num_workers=num_workers)
