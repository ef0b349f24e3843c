"""Long test streams for keyword spotting: held-out words laid on a noise bed, with their true times.

A keyword model is judged on long audio, not on one-second clips. :func:`build_stream` places words
(each cut to its speech, the frames within 35 dB of its loudest, with a short margin, faded in and out) one after another with random gaps on a
continuous bed of background noise, each word scaled to a signal-to-noise ratio drawn from a list, and
records where each word's speech starts and ends in the stream. Target words are placed once each;
other words fill a share of the stream (or all of it, for a stream that must never trigger), reused
with a small random speed change when there are fewer of them than places to fill.

Example:
    >>> rng = np.random.default_rng(0)
    >>> tone = np.sin(np.arange(4000) / 3.0).astype(np.float32)
    >>> word = np.concatenate([np.zeros(2000), tone, np.zeros(2000)]).astype(np.float32)
    >>> stream = build_stream([(word, "yes")], [], rng.normal(size=8000).astype(np.float32), 8000,
    ...                       StreamConfig(gap=(1.0, 1.0), snrs_db=(10.0,), other_share=0.0), seed=0)
    >>> [(w.label, round(w.start, 2), round(w.end, 2)) for w in stream.words]
    [('yes', 1.05, 1.55)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sonogram.audio import loud_extent
from sonogram.errors import ConfigError

NOISE_RMS = 0.01  # the bed's level (-40 dBFS): a 20 dB word still has headroom below full scale
FADE_SECONDS = 0.01
SPEECH_DB = -35.0  # a word's speech: the 10 ms frames within this of its clip's loudest frame


@dataclass(frozen=True)
class Word:
    """A word in a stream: its speech spans ``[start, end]`` seconds; ``target`` is False for other words."""

    start: float
    end: float
    label: str
    target: bool
    snr_db: float

    def as_json(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "target": self.target, "snr_db": self.snr_db}


@dataclass
class LongStream:
    """``audio`` ``(samples,)`` at ``sample_rate`` and the words in it, in time order."""

    audio: np.ndarray
    sample_rate: int
    words: list[Word]

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class StreamConfig:
    """How words are laid out.

    Attributes:
        gap: range of seconds of noise between one word's end and the next one's start.
        snrs_db: signal-to-noise ratios (speech RMS over noise RMS, dB); each word draws one.
        other_share: share of the placed words that are other (non-target) words, in [0, 1).
        margin: seconds kept around each word's detected speech.
        speed: largest relative speed change of a reused other word.
    """

    gap: tuple[float, float] = (0.5, 2.0)
    snrs_db: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)
    other_share: float = 0.3
    margin: float = 0.05
    speed: float = 0.1

    def __post_init__(self) -> None:
        if not (0 <= self.gap[0] <= self.gap[1] <= 60):
            raise ConfigError(f"gap must be [low, high] seconds with 0 <= low <= high <= 60, got {self.gap}")
        if not self.snrs_db or not all(math.isfinite(s) and -30 <= s <= 60 for s in self.snrs_db):
            raise ConfigError(f"snrs_db must be one or more ratios from -30 to 60 dB, got {self.snrs_db}")
        if not 0 <= self.other_share < 1:
            raise ConfigError(f"other_share must be in [0, 1), got {self.other_share}")
        if not (0 <= self.margin <= 1 and 0 <= self.speed < 0.5):
            raise ConfigError(f"margin must be 0-1 s and speed 0-0.5, got {self.margin}, {self.speed}")


def build_stream(targets: list[tuple[np.ndarray, str]], others: list[np.ndarray], noise: np.ndarray,
                 sample_rate: int, config: StreamConfig = StreamConfig(), seed: int = 0,
                 other_label: str = "_unknown_", min_seconds: float = 0.0) -> LongStream:
    """A stream holding every target word once and other words for ``config.other_share`` of the words.

    Args:
        targets: ``(waveform (samples,), label)`` clips whose words a detector should find.
        others: waveforms of words it should not report (placed as ``other_label``).
        noise: background noise ``(samples,)``, looped from random offsets under the whole stream.
        sample_rate: of every waveform given.
        config: gaps, SNRs and the share of other words.
        seed: the layout's random draws.
        min_seconds: keep adding other words until the stream is at least this long (a stream without
            targets, for counting false accepts per hour).
    """
    rng = np.random.default_rng(seed)
    if np.sqrt(np.mean(np.square(noise, dtype=np.float64))) <= 0 if len(noise) else True:
        raise ConfigError("the background noise is empty or silent")
    if not targets and not (others and min_seconds > 0):
        raise ConfigError("a stream needs target words, or other words and a length to fill")
    placed = [(w, label, True) for w, label in targets]
    if others:
        wanted = int(round(len(targets) * config.other_share / (1 - config.other_share)))
        placed += [(others[i % len(others)], other_label, False) for i in range(wanted)]
    order = rng.permutation(len(placed))
    pieces, words, cursor = [], [], 0
    next_other = len(placed)

    def place(waveform: np.ndarray, label: str, target: bool, reused: bool) -> None:
        nonlocal cursor
        if reused and config.speed:
            waveform = _speed(waveform, 1 + rng.uniform(-config.speed, config.speed))
        start, end = loud_extent(waveform, sample_rate, SPEECH_DB)
        if end <= start:
            return
        margin = int(config.margin * sample_rate)
        lo, hi = max(0, start - margin), min(len(waveform), end + margin)
        segment = _faded(waveform[lo:hi].astype(np.float64), sample_rate)
        snr = float(rng.choice(np.asarray(config.snrs_db)))
        speech_rms = np.sqrt(np.mean(np.square(waveform[start:end], dtype=np.float64)))
        segment *= NOISE_RMS * 10 ** (snr / 20) / max(speech_rms, 1e-12)
        cursor += int(rng.uniform(*config.gap) * sample_rate)
        pieces.append((cursor, segment))
        words.append(Word((cursor + start - lo) / sample_rate, (cursor + end - lo) / sample_rate,
                          label, target, snr))
        cursor += len(segment)

    for i in order:
        waveform, label, target = placed[i]
        place(waveform, label, target, reused=not target and i >= len(targets) + len(others))
    while others and cursor < min_seconds * sample_rate:
        place(others[next_other % len(others)], other_label, False, reused=True)
        next_other += 1
    cursor += int(config.gap[1] * sample_rate)  # trailing noise: the last word ends well inside the stream
    audio = _noise_bed(noise, cursor, rng)
    for at, segment in pieces:
        audio[at:at + len(segment)] += segment
    return LongStream(audio.astype(np.float32), sample_rate, words)


def joined_noise(clips: list[np.ndarray]) -> np.ndarray:
    """Background recordings joined end to end, each at unit RMS (silent ones left out): ``(samples,)``."""
    kept = [c.astype(np.float64) / rms for c in clips
            if len(c) and (rms := np.sqrt(np.mean(np.square(c, dtype=np.float64)))) > 1e-5]
    if not kept:
        raise ConfigError("no background noise: every noise clip is silent or empty")
    return np.concatenate(kept).astype(np.float32)


def _faded(segment: np.ndarray, sample_rate: int) -> np.ndarray:
    """``segment`` with raised-cosine ramps at both ends (no clicks where it meets the bed)."""
    ramp = min(len(segment) // 2, int(FADE_SECONDS * sample_rate))
    if ramp:
        window = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        segment[:ramp] *= window
        segment[-ramp:] *= window[::-1]
    return segment


def _speed(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Played ``factor`` times faster (pitch follows), by linear interpolation."""
    positions = np.arange(0, len(waveform) - 1, factor)
    return np.interp(positions, np.arange(len(waveform)), waveform).astype(np.float32)


def _noise_bed(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of ``noise`` looped from a random offset, at :data:`NOISE_RMS`."""
    noise = noise.astype(np.float64)
    noise = noise / np.sqrt(np.mean(np.square(noise))) * NOISE_RMS
    offset = int(rng.integers(len(noise)))
    repeats = (offset + length) // len(noise) + 1
    return np.tile(noise, repeats)[offset:offset + length].copy()
