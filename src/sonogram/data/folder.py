"""Any folder of class folders: ``ROOT/{label}/**/*.{wav,flac,ogg}``, for a user's own recordings.

The speaker of a file is the first group of ``speaker_pattern`` matched against its name
(default: the text before ``_nohash_``, Speech Commands style); a file that does not match is its
own speaker, so splits stay honest even without speaker information.
"""

from __future__ import annotations

import re
from pathlib import Path

from sonogram.audio import AUDIO_SUFFIXES, info
from sonogram.data.base import Clip, Corpus, DatasetError, Split, require_dir
from sonogram.data.splits import group_kfold


def load(root: Path, path: str, speaker_pattern: str = r"^([^_]+)_nohash_", folds: int = 5) -> Corpus:
    folder = Path(path) if Path(path).is_absolute() else root / path
    require_dir(folder, f"folder dataset {path!r}", "Give a folder with one sub-folder of audio files per class.")
    try:
        pattern = re.compile(speaker_pattern)
    except re.error as exc:
        raise DatasetError(f"invalid speaker_pattern {speaker_pattern!r}: {exc}") from None
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    clips = []
    for label in classes:
        for file in sorted((folder / label).rglob("*")):
            if file.suffix.lower() in AUDIO_SUFFIXES and file.is_file():
                m = pattern.search(file.name)
                speaker = m.group(1) if m and m.groups() else f"{label}/{file.stem}"
                clips.append(Clip(str(file), label, speaker))
    if len(classes) < 2 or not clips:
        raise DatasetError(f"folder dataset {folder}: need at least 2 class folders holding .wav/.flac/.ogg files")
    empty = sorted(set(classes) - {clip.label for clip in clips})
    if empty:
        raise DatasetError(f"folder dataset {folder}: class folder(s) {', '.join(empty)} hold no .wav/.flac/.ogg "
                           f"files; add recordings or remove the folder")

    def kfold(corpus: Corpus, seed: int) -> list[Split]:
        return group_kfold(corpus.speakers, folds, seed)

    return Corpus(f"folder-{folder.name}", info(clips[0].path).sample_rate, classes, clips, {"kfold": kfold},
                  speaker_disjoint=frozenset({"kfold"}))
