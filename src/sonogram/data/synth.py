"""Write small synthetic corpora in the exact on-disk layouts of the real datasets.

Each class is a pair of tones whose frequencies depend on the class and, slightly, on the
speaker, under a random envelope and noise: easy to learn from a spectrogram, so tests can
train a tiny model for seconds and check that it learned.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> len(write_fsdd(root, speakers=["ann", "bob"], takes=2))
    40
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from sonogram.data.speech_commands import NOISE_FOLDER


def tone_clip(class_index: int, speaker_index: int, sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(time,)`` float32 clip whose two tone frequencies encode the class."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    shift = 1.0 + 0.02 * (speaker_index % 5)
    nyquist = sample_rate / 2
    f1 = min(250.0 + 110.0 * class_index, 0.45 * nyquist) * shift
    f2 = min(900.0 + 170.0 * class_index, 0.9 * nyquist) * shift
    envelope = np.sin(np.pi * np.clip((t - 0.1 * seconds) / (0.8 * seconds), 0, 1)) ** 2
    signal = 0.5 * np.sin(2 * np.pi * f1 * t + rng.uniform(0, 6.28)) + 0.3 * np.sin(2 * np.pi * f2 * t)
    noise = 0.02 * rng.standard_normal(t.shape)
    return (rng.uniform(0.4, 0.9) * envelope * signal + noise).astype(np.float32)


def _write(path: Path, clip: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, clip, sample_rate, subtype=subtype)
    return path


def write_fsdd(root: Path, speakers: Sequence[str] = ("ann", "bob", "cy"), takes: int = 6, seconds: float = 0.4,
               seed: int = 0) -> list[Path]:
    """``root/fsdd/recordings/{digit}_{speaker}_{take}.wav`` at 8 kHz, 16-bit."""
    rng = np.random.default_rng(seed)
    return [
        _write(root / "fsdd" / "recordings" / f"{d}_{s}_{k}.wav", tone_clip(d, i, 8000, seconds, rng), 8000)
        for d in range(10) for i, s in enumerate(speakers) for k in range(takes)
    ]


def write_speech_commands(root: Path, version: str, words: Sequence[str], speakers: Sequence[str], takes: int = 1,
                          seconds: float = 1.0, noise_seconds: float = 30.0, seed: int = 0) -> Path:
    """Release layout under ``root/speech_commands_{version}``: word folders, lists, background noise.

    Speakers are assigned to validation/testing lists in the release's way (by speaker hash), so
    the official split is speaker-disjoint: the last speaker tests, the one before validates.
    """
    rng = np.random.default_rng(seed)
    folder = root / f"speech_commands_{version}"
    val, test = [], []
    for w, word in enumerate(words):
        for i, speaker in enumerate(speakers):
            for k in range(takes):
                rel = f"{word}/{speaker}_nohash_{k}.wav"
                _write(folder / rel, tone_clip(w, i, 16000, seconds, rng), 16000)
                if i == len(speakers) - 1:
                    test.append(rel)
                elif i == len(speakers) - 2:
                    val.append(rel)
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    for name in ("white_noise", "pink_noise"):
        noise = (0.1 * rng.standard_normal(int(noise_seconds * 16000))).astype(np.float32)
        _write(folder / NOISE_FOLDER / f"{name}.wav", noise, 16000)
    return folder


def write_speech_commands_test_set(root: Path, speakers: Sequence[str], silences: int = 4, seed: int = 0,
                                   unknown_words: Sequence[str] = ("bed",)) -> Path:
    """The shipped 12-class test-set layout under ``root/speech_commands_v0.02_test``; ``_unknown_`` holds
    one ``{word}_{speaker}_nohash_0.wav.wav`` per unknown word and speaker."""
    from sonogram.data.speech_commands import KEYWORDS, TEST_SET_FOLDER

    rng = np.random.default_rng(seed)
    folder = root / TEST_SET_FOLDER
    for w, word in enumerate(KEYWORDS):
        for i, s in enumerate(speakers):
            _write(folder / word / f"{s}_nohash_0.wav", tone_clip(w, i, 16000, 1.0, rng), 16000)
    for w, word in enumerate(unknown_words):
        for i, s in enumerate(speakers):
            _write(folder / "_unknown_" / f"{word}_{s}_nohash_0.wav.wav", tone_clip(10 + w, i, 16000, 1.0, rng), 16000)
    for n in range(silences):
        _write(folder / "_silence_" / f"{n}.wav", (0.05 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return folder


def write_audiomnist(root: Path, speakers: Sequence[int] = range(1, 61), takes: int = 1, seconds: float = 0.3,
                     seed: int = 0) -> Path:
    """``root/AudioMNIST/data/NN/{digit}_{NN}_{take}.wav`` at 48 kHz plus ``audioMNIST_meta.txt``.

    Gender follows the real meta file's pattern closely enough for the paper's gender splits:
    the speakers it lists as female are written as female.
    """
    female = {12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60}
    rng = np.random.default_rng(seed)
    data = root / "AudioMNIST" / "data"
    meta = {}
    for i, s in enumerate(speakers):
        sid = f"{s:02d}"
        meta[sid] = {"accent": "synthetic", "age": "30", "gender": "female" if s in female else "male",
                     "native speaker": "no", "origin": "synthetic", "recordingdate": "17-01-01-00-00-00",
                     "recordingroom": "none"}
        for d in range(10):
            for k in range(takes):
                _write(data / sid / f"{d}_{sid}_{k}.wav", tone_clip(d, i, 48000, seconds, rng), 48000)
    (data / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=4))
    return data


def write_folder(folder: Path, words: Sequence[str], speakers: Sequence[str], takes: int = 1, rate: int = 16000,
                 seconds: float = 0.5, seed: int = 0) -> Path:
    """A folder corpus as ``sonogram synth`` writes it: ``folder/{word}/{speaker}_nohash_{take}.wav``."""
    rng = np.random.default_rng(seed)
    for w, word in enumerate(words):
        for i, speaker in enumerate(speakers):
            for k in range(takes):
                _write(folder / word / f"{speaker}_nohash_{k}.wav", tone_clip(w, i, rate, seconds, rng), rate)
    return folder
