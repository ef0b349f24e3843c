"""A fast path for the cache build: plain PCM or float WAV files read with numpy, no libsndfile.

:func:`read_wav` parses the RIFF chunks itself and handles only the ordinary case (8/16/32-bit
integer or 32/64-bit float samples, complete, non-empty, within the length limit, finite). For
anything else it returns ``None`` and the caller decodes with :func:`sonogram.audio.load`, which
runs every check and raises the one clear :class:`~sonogram.errors.AudioError`. Where it does
decode, the samples equal libsndfile's: integers are scaled by the same powers of two.

Example:
    >>> import io, struct, numpy as np, tempfile, os
    >>> pcm = np.array([0, 16384, -32768], dtype="<i2").tobytes()
    >>> fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    >>> riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> _ = open(path, "wb").write(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    >>> read_wav(path)[0].tolist(), read_wav(path)[1]
    ([0.0, 0.5, -1.0], 8000)
"""

from __future__ import annotations

import os
import struct

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
# (format tag, bits per sample) -> (numpy dtype, scale to [-1, 1), offset of unsigned samples)
FORMATS = {
    (PCM, 8): (np.dtype("u1"), 2.0**-7, 128),
    (PCM, 16): (np.dtype("<i2"), 2.0**-15, 0),
    (PCM, 32): (np.dtype("<i4"), 2.0**-31, 0),
    (IEEE_FLOAT, 32): (np.dtype("<f4"), 1.0, 0),
    (IEEE_FLOAT, 64): (np.dtype("<f8"), 1.0, 0),
}


def read_wav(path: str | os.PathLike, start: float = 0.0, duration: float | None = None,
             max_seconds: float = 600.0) -> tuple[np.ndarray, int] | None:
    """Mono float32 samples ``(time,)`` and the rate of an ordinary WAV file, or ``None`` for anything else.

    ``start``, ``duration`` and ``max_seconds`` mean what they mean in :func:`sonogram.audio.load`.
    """
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            header = f.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return None
            layout = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    layout = parse_format(f.read(chunk_size))
                    f.seek(chunk_size & 1, os.SEEK_CUR)
                elif chunk_id == b"data":
                    if layout is None or f.tell() + chunk_size > size:
                        return None
                    return _samples(f, chunk_size, layout, start, duration, max_seconds)
                else:
                    f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)
    except OSError:
        return None


def parse_format(body: bytes) -> tuple[int, int, int, int] | None:
    """``(format tag, channels, rate, bits)`` from a ``fmt `` chunk, the sub-format for WAVE_FORMAT_EXTENSIBLE."""
    if len(body) < 16:
        return None
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]
    if channels < 1 or rate < 1 or block_align != channels * bits // 8 or (tag, bits) not in FORMATS:
        return None
    return tag, channels, rate, bits


def _samples(f, data_bytes: int, layout, start: float, duration: float | None,
             max_seconds: float) -> tuple[np.ndarray, int] | None:
    tag, channels, rate, bits = layout
    dtype, scale, offset = FORMATS[(tag, bits)]
    frames = data_bytes // (channels * dtype.itemsize)
    if frames == 0 or frames / rate > max_seconds:
        return None
    first = min(frames, int(round(start * rate)))
    count = frames - first if duration is None else min(frames - first, int(round(duration * rate)))
    if count <= 0:
        return None
    raw = np.fromfile(f, dtype=dtype, count=count * channels, offset=first * channels * dtype.itemsize)
    data = raw.astype(np.float32)
    if offset:
        data -= offset
    if scale != 1.0:
        data *= np.float32(scale)
    elif not np.isfinite(data).all():
        return None
    data = data.reshape(count, channels)
    waveform = data.mean(axis=1) if channels > 1 else data[:, 0]
    return np.ascontiguousarray(waveform, dtype=np.float32), rate
