"""Core types shared by every dataset: a clip, a corpus and a split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonogram.errors import DatasetError


@dataclass(frozen=True)
class Clip:
    """One labelled recording, or a segment of one (``start``/``duration`` in seconds)."""

    path: str
    label: str
    speaker: str
    start: float = 0.0
    duration: float | None = None


@dataclass(frozen=True)
class Split:
    """Index arrays into a corpus's clips for one train/validation/test partition."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


SplitProtocol = Callable[["Corpus", int], list[Split]]


@dataclass
class Corpus:
    """A dataset as a list of clips, its class names and the split protocols it supports.

    Example:
        >>> c = Corpus("toy", 8000, ["a", "b"], [Clip("x.wav", "b", "s1")], {})
        >>> c.targets.tolist(), c.summary()["speakers"]
        ([1], 1)
    """

    name: str
    sample_rate: int
    classes: list[str]
    clips: list[Clip]
    protocols: dict[str, SplitProtocol] = field(default_factory=dict)
    speaker_disjoint: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({clip.label for clip in self.clips} - index.keys())
        if unknown:
            raise DatasetError(f"{self.name}: clips carry labels outside the class list: {unknown}")
        self.targets = np.array([index[clip.label] for clip in self.clips], dtype=np.int64)
        self.speakers = np.array([clip.speaker for clip in self.clips])

    def __len__(self) -> int:
        return len(self.clips)

    def splits(self, protocol: str, seed: int = 0) -> list[Split]:
        """All folds of a split protocol (one element for a single split)."""
        if protocol not in self.protocols:
            raise DatasetError(
                f"{self.name}: unknown split {protocol!r}; valid splits: {', '.join(sorted(self.protocols))}"
            )
        if not 0 <= seed < 2**32:
            raise DatasetError(f"split seed must be from 0 to {2**32 - 1}, got {seed}")
        return self.protocols[protocol](self, seed)

    def summary(self) -> dict:
        counts = Counter(clip.label for clip in self.clips)
        return {
            "name": self.name,
            "clips": len(self.clips),
            "classes": len(self.classes),
            "speakers": len(set(self.speakers.tolist())),
            "sample_rate": self.sample_rate,
            "per_class": {c: counts[c] for c in self.classes},
            "splits": sorted(self.protocols),
        }

    def speaker_counts(self) -> dict[str, int]:
        """Clips per speaker, most first."""
        return dict(Counter(clip.speaker for clip in self.clips).most_common())


def speaker_overlap(corpus: Corpus, split: Split) -> set[str]:
    """Speakers that appear in more than one part of ``split`` (empty for an honest split)."""
    parts = [set(corpus.speakers[idx].tolist()) for idx in split.parts().values()]
    return (parts[0] & parts[1]) | (parts[0] & parts[2]) | (parts[1] & parts[2])


def require_dir(path: Path, dataset: str, how_to_get: str) -> Path:
    """Return ``path`` if it is a folder, else raise an error naming it and how to get the data."""
    if not path.is_dir():
        raise DatasetError(f"{dataset} not found: looked for the folder {path}. {how_to_get}")
    return path
