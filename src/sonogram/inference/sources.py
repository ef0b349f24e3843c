"""Where a stream's audio comes from: a file of any length, standard input (WAV or raw PCM, as a pipe
delivers it) or a microphone. Each source yields mono float32 chunks at its own rate as they arrive.

Example:
    >>> import io, struct
    >>> pcm = np.array([0, 16384, -32768, 8192], dtype="<i2").tobytes()
    >>> source = StreamSource(io.BytesIO(pcm), sample_rate=8000, sample_format="s16le")
    >>> np.concatenate(list(source.chunks())).tolist()
    [0.0, 0.5, -1.0, 0.25]
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

from sonogram.audio import MAX_SAMPLE_RATE, _open
from sonogram.data.pcm import FORMATS, IEEE_FLOAT, PCM, parse_format
from sonogram.errors import AudioError, ConfigError

# Raw sample formats on standard input, as sox and ffmpeg name them.
RAW_FORMATS = {"s16le": (PCM, 16), "s32le": (PCM, 32), "f32le": (IEEE_FLOAT, 32), "u8": (PCM, 8)}
READ_BYTES = 8192  # a pipe read returns what has arrived, up to this


class FileSource:
    """An audio file of any length, read in chunks of ``chunk_seconds`` (never whole into memory)."""

    def __init__(self, path: str | os.PathLike, chunk_seconds: float = 1.0):
        self.path = Path(path)
        with _open(self.path) as f:
            self.sample_rate, self.frames = int(f.samplerate), int(f.frames)
        if self.frames == 0:
            raise AudioError(f"{self.path}: zero-length signal (header holds no samples)")
        self.name, self.block = str(path), max(1, int(chunk_seconds * self.sample_rate))

    def chunks(self) -> Iterator[np.ndarray]:
        with _open(self.path) as f:
            try:
                for block in f.blocks(self.block, dtype="float32", always_2d=True):
                    if not np.isfinite(block).all():
                        raise AudioError(f"{self.path}: contains NaN or infinite samples")
                    yield np.ascontiguousarray(block.mean(axis=1) if block.shape[1] > 1 else block[:, 0])
            except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
                raise AudioError(f"{self.path}: corrupt audio data ({exc})") from None


class StreamSource:
    """Samples from a byte stream (standard input): a WAV file as a pipe carries it (a data chunk of
    unknown or any length, read to the end), or raw PCM when ``sample_rate`` is given.

    Args:
        stream: a binary file object; reads return what has arrived.
        sample_rate: the rate of raw PCM; ``None`` expects a WAV header.
        sample_format: raw sample format, one of :data:`RAW_FORMATS`.
        channels: interleaved channels of raw PCM (mixed down to mono).
    """

    def __init__(self, stream: BinaryIO, sample_rate: int | None = None, sample_format: str = "s16le",
                 channels: int = 1, name: str = "stdin"):
        self.stream, self.name = stream, name
        self._pending = b""
        if sample_rate is None:
            self.sample_rate, self.channels, layout = self._read_wav_header()
        else:
            if sample_format not in RAW_FORMATS:
                raise ConfigError(f"unknown raw sample format {sample_format!r}; valid: {', '.join(RAW_FORMATS)}")
            if not (isinstance(sample_rate, int) and 0 < sample_rate <= MAX_SAMPLE_RATE):
                raise ConfigError(f"--rate must be a whole number of Hz from 1 to {MAX_SAMPLE_RATE}, got {sample_rate!r}")
            if not 1 <= channels <= 64:
                raise ConfigError(f"--channels must be from 1 to 64, got {channels}")
            self.sample_rate, self.channels, layout = sample_rate, channels, RAW_FORMATS[sample_format]
        self.dtype, self.scale, self.offset = FORMATS[layout]
        self.frame_bytes = self.dtype.itemsize * self.channels

    def _read(self, count: int) -> bytes:
        """Exactly ``count`` bytes (fewer only at the end of the stream)."""
        data = self._pending
        while len(data) < count:
            more = self.stream.read(count - len(data))
            if not more:
                break
            data += more
        self._pending = b""
        return data

    def _read_wav_header(self) -> tuple[int, int, tuple[int, int]]:
        header = self._read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            if not header:
                raise AudioError(f"{self.name}: no audio arrived (empty input)")
            raise AudioError(f"{self.name}: not a WAV stream; for raw PCM give --rate (and --format, --channels)")
        layout = None
        while True:
            chunk = self._read(8)
            if len(chunk) < 8:
                raise AudioError(f"{self.name}: the WAV stream ended before its audio data began")
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                break
            if size > 1 << 20:
                raise AudioError(f"{self.name}: a {size:,}-byte {chunk_id!r} chunk before the audio data; "
                                 "is this a WAV stream?")
            body = self._read(size + (size & 1))
            if len(body) < size:
                raise AudioError(f"{self.name}: the WAV stream ended before its audio data began")
            if chunk_id == b"fmt ":
                layout = parse_format(body[:size])
                if layout is None:
                    raise AudioError(f"{self.name}: unsupported WAV sample format (streams take 8/16/32-bit "
                                     "integer or 32/64-bit float samples)")
        if layout is None:
            raise AudioError(f"{self.name}: the WAV stream has no format chunk before its audio data")
        tag, channels, rate, bits = layout
        return rate, channels, (tag, bits)

    def chunks(self) -> Iterator[np.ndarray]:
        read = getattr(self.stream, "read1", self.stream.read)  # read1: what has arrived, without waiting for more
        while True:
            more = read(READ_BYTES)
            if not more:  # end of the stream; a torn last frame is dropped
                return
            data = self._pending + more
            whole = len(data) - len(data) % self.frame_bytes
            self._pending = data[whole:]
            if not whole:
                continue
            samples = np.frombuffer(data[:whole], dtype=self.dtype).astype(np.float32)
            if self.offset:
                samples -= self.offset
            if self.scale != 1.0:
                samples *= np.float32(self.scale)
            elif not np.isfinite(samples).all():
                raise AudioError(f"{self.name}: holds NaN or infinite samples")
            samples = samples.reshape(-1, self.channels)
            yield np.ascontiguousarray(samples.mean(axis=1) if self.channels > 1 else samples[:, 0])


class MicrophoneSource:
    """The default (or a named) input device, through the optional ``mic`` extra (sounddevice, PortAudio)."""

    def __init__(self, sample_rate: int = 16000, device: str | int | None = None, chunk_seconds: float = 0.1):
        try:
            import sounddevice
        except ImportError:
            raise ConfigError("the microphone needs the 'mic' extra: pip install 'sonogram[mic]'") from None
        except OSError as exc:  # the package is there, the PortAudio library is not
            raise ConfigError(f"no microphone support on this machine ({exc}); install PortAudio "
                              "(apt-get install libportaudio2) or stream a file or stdin instead") from None
        try:
            info = sounddevice.query_devices(device, "input")
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise ConfigError(f"no audio input device{f' {device!r}' if device is not None else ''}: {exc}") from None
        self.sounddevice, self.device, self.sample_rate = sounddevice, device, sample_rate
        self.name, self.block = f"microphone {info['name']}", max(1, int(chunk_seconds * sample_rate))

    def chunks(self) -> Iterator[np.ndarray]:
        with self.sounddevice.InputStream(samplerate=self.sample_rate, blocksize=self.block, device=self.device,
                                          channels=1, dtype="float32") as stream:
            while True:
                block, _overflowed = stream.read(self.block)
                yield np.ascontiguousarray(block[:, 0])
