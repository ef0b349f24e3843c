"""Decode, resample, downmix, pad/trim and normalise audio clips.

Every failure raises :class:`AudioError`, whose message names the file and what is wrong
with it, so a command can print one clear line per bad file instead of a traceback.

Example:
    >>> import numpy as np
    >>> fix_length(np.ones(5, dtype=np.float32), 8, align="center").tolist()
    [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile
import soxr

from sonogram.errors import AudioError

DEFAULT_MAX_SECONDS = 600.0
MAX_SAMPLE_RATE = 768_000  # the highest rate audio interfaces record at
Align = Literal["center", "left"]
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg"})  # what sonogram looks for in folders
NormMode = Literal["peak", "rms"]


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _check_riff_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk claims more bytes than the file holds.

    libsndfile silently shortens a truncated WAV to what is there; a half-copied file
    would then look like a valid, shorter recording.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                if chunk_size != 0xFFFFFFFF and f.tell() + chunk_size > size:
                    missing = f.tell() + chunk_size - size
                    raise AudioError(f"{path}: truncated WAV file ({missing} bytes of audio data missing)")
                return
            f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def _open(path: Path) -> soundfile.SoundFile:
    """Open an audio file for reading after the checks that need no decoding."""
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    _check_riff_complete(path)
    try:
        return soundfile.SoundFile(os.fsencode(path))  # bytes: names that are not UTF-8 open too
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None


def info(path: str | os.PathLike) -> AudioInfo:
    """Read an audio file's header without decoding it."""
    with _open(Path(path)) as f:
        return AudioInfo(str(path), int(f.samplerate), int(f.frames), int(f.channels), f.format, f.subtype)


def _check_rate(name: str, rate: object) -> None:
    if not isinstance(rate, (int, np.integer)) or not 0 < rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{name} must be a positive integer number of Hz up to {MAX_SAMPLE_RATE:,}, got {rate!r}")


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``(time,)`` float32 audio with soxr's high-quality filter."""
    _check_rate("orig_rate", orig_rate)
    _check_rate("target_rate", target_rate)
    if orig_rate == target_rate:
        return waveform
    return soxr.resample(waveform, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def load(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    start: float = 0.0,
    duration: float | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 in [-1, 1], optionally resampled.

    Args:
        path: WAV (8/16/24/32-bit PCM or float), FLAC, OGG or anything libsndfile reads.
        sample_rate: target rate in Hz; ``None`` keeps the file's own rate.
        start, duration: read only this segment, in seconds.
        max_seconds: refuse files longer than this before decoding them.

    Returns:
        ``(waveform (time,), sample_rate)``.
    """
    if sample_rate is not None:
        _check_rate("sample_rate", sample_rate)
    with _open(Path(path)) as f:
        rate, frames = int(f.samplerate), int(f.frames)
        if frames == 0:
            raise AudioError(f"{path}: zero-length signal (header holds no samples)")
        if frames / rate > max_seconds:
            raise AudioError(f"{path}: {frames / rate:.1f} s long, over the {max_seconds:g} s limit (max_seconds)")
        count = -1 if duration is None else int(round(duration * rate))
        try:
            f.seek(int(round(start * rate)))
            data = f.read(count, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(f"{path}: corrupt audio data ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: zero-length signal")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    waveform = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if sample_rate is not None:
        waveform = resample(waveform, rate, sample_rate)
        rate = sample_rate
    return waveform, rate


def fix_length(waveform: np.ndarray, length: int, align: Align = "center") -> np.ndarray:
    """Zero-pad or trim the last axis to ``length`` samples.

    ``align="center"`` keeps the middle of long clips and centres short ones;
    ``"left"`` keeps the start and pads at the end.
    """
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    if align not in ("center", "left"):
        raise ValueError(f"align must be 'center' or 'left', got {align!r}")
    n = waveform.shape[-1]
    if n == length:
        return waveform
    if n > length:
        offset = (n - length) // 2 if align == "center" else 0
        return waveform[..., offset : offset + length]
    before = (length - n) // 2 if align == "center" else 0
    out = np.zeros(waveform.shape[:-1] + (length,), dtype=waveform.dtype)
    out[..., before : before + n] = waveform
    return out


def loud_extent(waveform: np.ndarray, sample_rate: int, threshold_db: float) -> tuple[int, int]:
    """First and last sample (exclusive) of the 10 ms frames louder than ``threshold_db`` (negative) below
    the loudest frame: in a one-word clip, the word. ``(0, 0)`` for a clip of zeros or under 10 ms.

    Example:
        >>> loud_extent(np.concatenate([np.zeros(800), np.ones(400), np.zeros(800)]), 8000, -40.0)
        (800, 1200)
    """
    frame = max(1, sample_rate // 100)
    n = len(waveform) // frame
    if n == 0:
        return 0, 0
    energy = (waveform[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    if energy.max() <= 0:
        return 0, 0
    level = 10 * np.log10(energy + 1e-12)
    loud = np.flatnonzero(level > level.max() + threshold_db)
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)


def normalize(waveform: np.ndarray, mode: NormMode = "peak", target: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    """Scale a clip so its peak (``"peak"``) or RMS (``"rms"``) equals ``target``; silence is left as is."""
    if mode == "peak":
        level = np.abs(waveform).max(initial=0.0)
    elif mode == "rms":
        level = float(np.sqrt(np.mean(np.square(waveform)))) if waveform.size else 0.0
    else:
        raise ValueError(f"mode must be 'peak' or 'rms', got {mode!r}")
    if level < eps:
        return waveform
    return (waveform * (target / level)).astype(np.float32, copy=False)
