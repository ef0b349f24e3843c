"""Datasets under the data root: a survey of what is there, and one dataset in detail with its splits."""

from __future__ import annotations

import os

from sonogram.data import LOADERS, DatasetError, load_dataset, resolve_data_root, speaker_overlap

# The datasets a survey looks for, with the options that select each variant.
SURVEYED = [
    ("fsdd", {}),
    ("speech_commands_test", {}),
    ("speech_commands", {"version": "v0.01", "task": "words"}),
    ("speech_commands", {"version": "v0.02", "task": "words"}),
    ("audiomnist", {}),
]


def survey(data_root: str | os.PathLike | None = None) -> dict:
    """``{"data_root", "datasets": [row, ...]}``: each found dataset's clip, class and speaker counts and
    split names, or ``{"name", "missing": reason}`` for one that is not there."""
    root = resolve_data_root(data_root)
    if data_root is not None and not root.is_dir():
        raise DatasetError(f"data root {root}: no such folder")
    rows = []
    for name, options in SURVEYED:
        try:
            summary = load_dataset(name, root, **options).summary()
            summary.pop("per_class")
            rows.append(summary)
        except DatasetError as exc:
            rows.append({"name": name + "".join(f" {v}" for v in options.values()), "missing": str(exc)})
    return {"data_root": str(root), "datasets": rows}


def describe(name: str, options: dict | None = None, seed: int = 0,
             data_root: str | os.PathLike | None = None) -> dict:
    """One dataset: its summary (clips per class and per speaker), per split protocol each fold's part
    sizes and the number of speakers found in two parts, and which protocols are speaker-disjoint."""
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; valid: {', '.join(LOADERS)}")
    corpus = load_dataset(name, resolve_data_root(data_root), **(options or {}))
    summary = corpus.summary()
    summary["per_speaker"] = corpus.speaker_counts()
    summary["speaker_disjoint"] = sorted(corpus.speaker_disjoint)
    summary["splits"] = {
        protocol: [{"name": split.name, **{part: len(idx) for part, idx in split.parts().items()},
                    "shared_speakers": len(speaker_overlap(corpus, split))}
                   for split in corpus.splits(protocol, seed)]
        for protocol in sorted(corpus.protocols)}
    return summary


def synthesise(words: list[str], out: str | os.PathLike, voices: int = 40, takes: int = 2, rate: int = 16000,
               languages: list[str] | None = None, seed: int = 0, force: bool = False, progress=None,
               silence: int = 0) -> dict:
    """A folder corpus of ``words`` spoken by ``voices`` espeak-ng voices (see :mod:`sonogram.data.speech_synth`);
    returns its summary. ``progress(done, total)`` follows the clips; ``silence`` adds that many
    one-second clips of generated noise as a ``_silence_`` class."""
    from sonogram.data.speech_synth import ENGLISH, SynthConfig
    from sonogram.data.speech_synth import synthesise as write_corpus

    config = SynthConfig(tuple(words), voices, takes, rate, tuple(languages or ENGLISH), seed, silence)
    return write_corpus(config, out, force, progress)
