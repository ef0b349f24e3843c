"""Free Spoken Digit Dataset: ``{digit}_{speaker}_{take}.wav`` at 8 kHz, 6 speakers, 50 takes per digit."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sonogram.data.base import Clip, Corpus, DatasetError, Split, require_dir
from sonogram.data.download import Source
from sonogram.data.splits import leave_one_group_out, stratified_holdout

NAME = "fsdd"
SAMPLE_RATE = 8000
CLASSES = [str(d) for d in range(10)]
SOURCE = Source(
    url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz",
    sha256=None,  # GitHub tag archives carry no published checksum
    folder="fsdd",
    strip_prefix="free-spoken-digit-dataset-1.0.10/",
)
HOW_TO_GET = "Run `sonogram download fsdd` or unpack the FSDD repository there (it must hold recordings/)."
_FILE = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
OFFICIAL_TEST_TAKES = range(0, 5)


def _takes(corpus: Corpus) -> np.ndarray:
    return np.array([int(_FILE.match(Path(c.path).name).group(3)) for c in corpus.clips])


def official_split(corpus: Corpus, seed: int) -> list[Split]:
    """Takes 0-4 test, 5-49 train (speakers shared, as published); 10% of train held out for validation."""
    takes = _takes(corpus)
    test = np.flatnonzero(np.isin(takes, list(OFFICIAL_TEST_TAKES)))
    train, val = stratified_holdout(corpus.targets, np.flatnonzero(~np.isin(takes, list(OFFICIAL_TEST_TAKES))), 0.1, seed)
    return [Split("official", train, val, test)]


def loso_split(corpus: Corpus, seed: int) -> list[Split]:
    """Leave one speaker out (6 folds): the honest protocol for unseen voices; another speaker validates."""
    return leave_one_group_out(corpus.speakers, seed)


def loso_pooled_split(corpus: Corpus, seed: int) -> list[Split]:
    """Leave one speaker out, training on all five others: 10% of their clips (per class) validate.

    The test speaker is still never heard; validation measures held-out takes of known voices.
    """
    splits = []
    for fold in leave_one_group_out(corpus.speakers, seed):
        train, val = stratified_holdout(corpus.targets, np.sort(np.concatenate([fold.train, fold.val])), 0.1, seed)
        splits.append(Split(fold.name, train, val, fold.test))
    return splits


def load(root: Path) -> Corpus:
    folder = require_dir(root / "fsdd" / "recordings", "FSDD", HOW_TO_GET)
    clips = []
    for path in sorted(folder.iterdir()):
        m = _FILE.match(path.name)
        if m:
            clips.append(Clip(str(path), m.group(1), m.group(2)))
    if not clips:
        raise DatasetError(f"FSDD: no files named {{digit}}_{{speaker}}_{{take}}.wav in {folder}. {HOW_TO_GET}")
    return Corpus(NAME, SAMPLE_RATE, CLASSES, clips, {"official": official_split, "loso": loso_split, "loso_pooled": loso_pooled_split},
                  speaker_disjoint=frozenset({"loso"}))
