"""Uploaded bytes to a model-ready clip, with the server's limits and an HTTP status for each failure.

Decoding goes through :func:`sonogram.audio.load` (every format and rate the audio layer reads),
so a served clip is decoded, resampled and padded exactly as in training and ``sonogram predict``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from sonogram.audio import AudioError, info, load


class RequestError(Exception):
    """A request the server refuses: ``status`` (401, 413, 415, 422) and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Decoded:
    waveform: np.ndarray  # (time,) at the model's rate, before padding or cutting
    duration: float  # seconds of audio in the upload
    sample_rate: int  # the upload's own rate


def decode(data: bytes, name: str, sample_rate: int, max_bytes: int, max_seconds: float) -> Decoded:
    """Decode one upload: 413 when too big or too long, 415 when not audio, 422 when empty or damaged."""
    if not data:
        raise RequestError(422, f"{name}: empty upload (0 bytes)")
    if len(data) > max_bytes:
        raise RequestError(413, f"{name}: {len(data):,} bytes, over the {max_bytes:,}-byte limit")
    with tempfile.NamedTemporaryFile(prefix="sonogram-upload-") as f:
        f.write(data)
        f.flush()
        try:
            header = info(f.name)
        except AudioError as exc:
            raise RequestError(415, _named(exc, f.name, name)) from None
        if header.seconds > max_seconds:
            raise RequestError(413, f"{name}: {header.seconds:.1f} s of audio, over the {max_seconds:g} s limit")
        try:
            waveform, _ = load(f.name, sample_rate, max_seconds=max_seconds)
        except AudioError as exc:
            raise RequestError(422, _named(exc, f.name, name)) from None
    return Decoded(waveform, header.seconds, header.sample_rate)


def _named(exc: AudioError, tmp: str, name: str) -> str:
    """The audio layer's message with the upload's name in place of the temporary file's."""
    return str(exc).replace(tmp, name)
