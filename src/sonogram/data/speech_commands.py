"""Speech Commands (Warden, 2018) in its release layout, and the v0.02 12-class test set as shipped.

Release layout: ``{word}/{speaker}_nohash_{n}.wav``, ``validation_list.txt``,
``testing_list.txt`` and ``_background_noise_/*.wav``. Tasks: ``"words"`` (every word folder:
30 in v0.01, 35 in v0.02) and ``"12"`` (ten keywords, ``_unknown_`` for the other words and
``_silence_`` cut from the background-noise files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sonogram.audio import info
from sonogram.data.base import Clip, Corpus, DatasetError, Split, require_dir
from sonogram.data.download import Source
from sonogram.data.splits import group_kfold

SAMPLE_RATE = 16000
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
TWELVE = KEYWORDS + ["_unknown_", "_silence_"]
NOISE_FOLDER = "_background_noise_"
VERSIONS = {
    "v0.01": Source(
        "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
        "speech_commands_v0.01",
    ),
    "v0.02": Source(
        "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
        "speech_commands_v0.02",
    ),
}
# Each background-noise file is cut by time into train / val / test regions, so no noise is shared.
NOISE_REGIONS = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
TEST_SET_FOLDER = "speech_commands_v0.02_test"


def _speaker(filename: str) -> str:
    stem = filename.split(".")[0]
    if "_nohash_" not in stem:
        raise DatasetError(f"Speech Commands: file name {filename!r} lacks the '_nohash_' speaker marker")
    return stem.split("_nohash_")[0].split("_")[-1]


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        raise DatasetError(f"Speech Commands: missing {path.name} in {path.parent} (is this the release layout?)")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _silence_clips(folder: Path, per_part: dict[str, int], seed: int) -> dict[str, list[Clip]]:
    noise_files = sorted((folder / NOISE_FOLDER).glob("*.wav"))
    if not noise_files:
        raise DatasetError(f"Speech Commands: no background noise in {folder / NOISE_FOLDER} for the _silence_ class")
    rng = np.random.default_rng(seed)
    seconds = [info(p).seconds for p in noise_files]
    out: dict[str, list[Clip]] = {}
    for part, (lo, hi) in NOISE_REGIONS.items():
        clips = []
        for k in range(per_part[part]):
            j = k % len(noise_files)
            start_lo, start_hi = lo * seconds[j], hi * seconds[j] - 1.0
            if start_hi < start_lo:
                raise DatasetError(f"{noise_files[j]}: too short to cut 1-second silence clips from its {part} region")
            start = round(float(rng.uniform(start_lo, start_hi)), 4)
            clips.append(Clip(str(noise_files[j]), "_silence_", f"noise-{noise_files[j].stem}-{part}", start, 1.0))
        out[part] = clips
    return out


def load(root: Path, version: str = "v0.02", task: str = "12", seed: int = 0) -> Corpus:
    """Load the release layout under ``root / speech_commands_{version}``; ``seed`` places the silence cuts."""
    task = str(task)
    if version not in VERSIONS:
        raise DatasetError(f"Speech Commands: unknown version {version!r}; valid: {', '.join(VERSIONS)}")
    if task not in ("12", "words"):
        raise DatasetError(f"Speech Commands: unknown task {task!r}; valid: '12', 'words'")
    folder = require_dir(root / VERSIONS[version].folder, f"Speech Commands {version}",
                         f"Run `sonogram download speech_commands_{version}`.")
    val_list = _read_list(folder / "validation_list.txt")
    test_list = _read_list(folder / "testing_list.txt")
    words = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_"))
    parts: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    for word in words:
        label = word if task == "words" or word in KEYWORDS else "_unknown_"
        for path in sorted((folder / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            part = "val" if rel in val_list else "test" if rel in test_list else "train"
            parts[part].append(Clip(str(path), label, _speaker(path.name)))
    classes = words
    if task == "12":
        missing = sorted(set(KEYWORDS) - set(words))
        if missing:
            raise DatasetError(f"Speech Commands: keyword folders missing in {folder}: {missing}")
        per_part = {p: max(1, sum(c.label in KEYWORDS for c in parts[p]) // len(KEYWORDS)) for p in parts}
        for part, clips in _silence_clips(folder, per_part, seed).items():
            parts[part].extend(clips)
        classes = TWELVE
    clips = parts["train"] + parts["val"] + parts["test"]
    bounds = np.cumsum([0] + [len(parts[p]) for p in ("train", "val", "test")])

    def official(corpus: Corpus, _seed: int) -> list[Split]:
        return [Split("official", *(np.arange(bounds[i], bounds[i + 1]) for i in range(3)))]

    name = f"speech_commands_{version}" + ("_12" if task == "12" else "")
    return Corpus(name, SAMPLE_RATE, classes, clips, {"official": official}, speaker_disjoint=frozenset({"official"}))


def load_test_set(root: Path, folds: int = 5) -> Corpus:
    """The shipped v0.02 12-class test set: 4,890 one-second clips with speaker-disjoint k-fold CV."""
    folder = require_dir(root / TEST_SET_FOLDER, "Speech Commands v0.02 test set",
                         "It is the canonical 12-class test archive (speech_commands_test_set_v0.02) unpacked there.")
    clips = []
    for label in TWELVE:
        sub = require_dir(folder / label, "Speech Commands v0.02 test set", f"Folder {label}/ is missing.")
        for path in sorted(sub.glob("*.wav")):
            speaker = f"silence-{path.stem}" if label == "_silence_" else _speaker(path.name)
            clips.append(Clip(str(path), label, speaker))

    def kfold(corpus: Corpus, seed: int) -> list[Split]:
        return group_kfold(corpus.speakers, folds, seed)

    return Corpus("speech_commands_test", SAMPLE_RATE, TWELVE, clips, {"kfold": kfold}, speaker_disjoint=frozenset({"kfold"}))
