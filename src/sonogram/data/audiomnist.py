"""AudioMNIST (Becker et al.): ``data/NN/{digit}_{NN}_{take}.wav`` at 48 kHz, 60 speakers, and ``audioMNIST_meta.txt``.

Tasks: ``"digit"`` (10 classes) and ``"gender"`` (female/male from the meta file). The ``"paper"``
protocol reproduces the original paper's speaker splits (five for digits, four for gender);
when the corpus lacks those speakers it falls back to speaker-disjoint k-fold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sonogram.data.base import Clip, Corpus, DatasetError, Split, require_dir
from sonogram.data.download import Source
from sonogram.data.splits import fixed_groups, group_kfold

SAMPLE_RATE = 48000
SOURCE = Source(
    url="https://github.com/soerenab/AudioMNIST/archive/refs/heads/master.zip",
    sha256=None,  # a branch archive changes with the repository; no fixed checksum exists
    folder="AudioMNIST",
    strip_prefix="AudioMNIST-master/",
)
_FILE = re.compile(r"^(\d)_(\d+)_(\d+)\.wav$")

# Speaker groups of the original paper's digit task: fold i trains on groups i..i+2, validates on
# i+3 and tests on i+4 (mod 5).
_DIGIT_GROUPS = [
    {28, 56, 7, 19, 35, 1, 6, 16, 23, 34, 46, 53},
    {36, 57, 9, 24, 37, 2, 8, 17, 29, 39, 48, 54},
    {43, 58, 14, 25, 38, 3, 10, 20, 30, 40, 49, 55},
    {12, 47, 59, 15, 27, 41, 4, 11, 21, 31, 44, 50},
    {26, 52, 60, 18, 32, 42, 5, 13, 22, 33, 45, 51},
]
# Gender task: four balanced groups (3 female + 3 male each); fold i trains on i, i+1, validates on i+2, tests on i+3.
_GENDER_GROUPS = [
    {36, 47, 56, 2, 44, 50},
    {26, 12, 57, 25, 37, 45},
    {43, 28, 52, 48, 53, 41},
    {58, 59, 60, 7, 23, 38},
]


def _cyclic_folds(groups: list[set[int]], n_train: int) -> list[tuple[set, set, set]]:
    n = len(groups)
    folds = []
    for i in range(n):
        train = set().union(*(groups[(i + j) % n] for j in range(n_train)))
        folds.append((train, groups[(i + n_train) % n], groups[(i + n_train + 1) % n]))
    return folds


def _as_speaker_ids(folds: list[tuple[set, set, set]]) -> list[tuple[set, set, set]]:
    return [tuple({f"{s:02d}" for s in part} for part in fold) for fold in folds]


def load(root: Path, task: str = "digit", folds: int = 5) -> Corpus:
    if task not in ("digit", "gender"):
        raise DatasetError(f"AudioMNIST: unknown task {task!r}; valid: 'digit', 'gender'")
    data = require_dir(root / "AudioMNIST" / "data", "AudioMNIST", "Run `sonogram download audiomnist`.")
    meta_path = data / "audioMNIST_meta.txt"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"AudioMNIST: missing {meta_path}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"AudioMNIST: {meta_path} is not valid JSON ({exc})") from None
    clips = []
    for speaker_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        speaker = speaker_dir.name
        gender = str(meta.get(speaker, {}).get("gender", "")).lower()
        if task == "gender" and gender not in ("female", "male"):
            raise DatasetError(f"AudioMNIST: speaker {speaker} has no female/male gender in {meta_path}")
        for path in sorted(speaker_dir.glob("*.wav")):
            m = _FILE.match(path.name)
            if m is None or m.group(2) != speaker:
                raise DatasetError(f"AudioMNIST: unexpected file {path} (want {{digit}}_{speaker}_{{take}}.wav)")
            label = m.group(1) if task == "digit" else gender
            clips.append(Clip(str(path), label, speaker))
    if not clips:
        raise DatasetError(f"AudioMNIST: no recordings under {data}")
    classes = [str(d) for d in range(10)] if task == "digit" else ["female", "male"]
    paper_folds = _as_speaker_ids(
        _cyclic_folds(_DIGIT_GROUPS, 3) if task == "digit" else _cyclic_folds(_GENDER_GROUPS, 2)
    )
    paper_speakers = set().union(*(set().union(*fold) for fold in paper_folds))

    def kfold(corpus: Corpus, seed: int) -> list[Split]:
        return group_kfold(corpus.speakers, folds, seed)

    def paper(corpus: Corpus, seed: int) -> list[Split]:
        if not paper_speakers <= set(corpus.speakers.tolist()):
            return kfold(corpus, seed)
        return fixed_groups(corpus.speakers, paper_folds, "paper")

    return Corpus(f"audiomnist_{task}", SAMPLE_RATE, classes, clips, {"paper": paper, "kfold": kfold},
                  speaker_disjoint=frozenset({"paper", "kfold"}))
