"""The log mel filterbank of python_speech_features (``logfbank``), the front-end pretrained speech
embeddings such as EfficientWord-Net's ResNet-50 were trained on.

It differs from :class:`~sonogram.features.layers.LogMelSpectrogram` in every detail that matters to a
network trained on it: frames are not centred but start at sample 0 and the last partial frame is
zero-padded (``1 + ceil((n - win) / hop)`` frames); no window is applied; the power spectrum is
``|rfft(frame, n_fft)|**2 / n_fft``; filters are triangles on FFT bins rounded down from HTK mel points
(``2595 log10(1 + f / 700)``), not Slaney's; the log is natural; and zero energies become float64's
epsilon before it.

Example:
    >>> layer = LogFilterbank(sample_rate=16000, n_filters=64)
    >>> layer(torch.zeros(2, 24000)).shape       # 1.5 s -> 149 frames of 10 ms
    torch.Size([2, 1, 64, 149])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sonogram.errors import ConfigError
from sonogram.features.base import FrameGeometry, FrontendLayer

EPSILON = float(np.finfo(np.float64).eps)  # what python_speech_features puts in place of a zero energy


def psf_frame_count(num_samples: int, win_length: int, hop_length: int) -> int:
    """Frames python_speech_features makes of ``num_samples``: the last partial frame is padded, not dropped."""
    if num_samples <= win_length:
        return 1
    return 1 + math.ceil((num_samples - win_length) / hop_length)


def psf_filterbank(n_filters: int, n_fft: int, sample_rate: int, low_hz: float = 0.0,
                   high_hz: float | None = None) -> np.ndarray:
    """Triangular filters on FFT bins, as ``python_speech_features.get_filterbanks``: ``(n_filters, n_fft // 2 + 1)``."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    if not 0 <= low_hz < high_hz <= sample_rate / 2:
        raise ConfigError(f"filterbank edges must satisfy 0 <= low_hz < high_hz <= sample_rate / 2 = "
                          f"{sample_rate / 2:g}, got {low_hz:g} and {high_hz:g}")
    to_mel = lambda hz: 2595 * np.log10(1 + hz / 700.0)  # noqa: E731
    mels = np.linspace(to_mel(low_hz), to_mel(high_hz), n_filters + 2)
    bins = np.floor((n_fft + 1) * (700 * (10 ** (mels / 2595.0) - 1)) / sample_rate)
    filters = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        left, centre, right = bins[j], bins[j + 1], bins[j + 2]
        rising = np.arange(int(left), int(centre))
        falling = np.arange(int(centre), int(right))
        filters[j, rising] = (rising - left) / (centre - left)
        filters[j, falling] = (right - falling) / (right - centre)
    return filters


class LogFilterbank(FrontendLayer):
    """python_speech_features ``logfbank``: ``(batch, samples) -> (batch, 1, n_filters, frames)``.

    Attributes:
        sample_rate: input rate (Hz).
        win_length: samples per frame (python_speech_features' ``winlen * samplerate``, 400 at 16 kHz).
        hop_length: samples between frame starts (``winstep * samplerate``, 160 at 16 kHz).
        n_fft: FFT size; frames are zero-padded to it.
        n_filters: filters in the bank (``nfilt``).
        low_hz, high_hz: band edges (``high_hz`` defaults to half the rate).
        preemphasis: ``y[t] = x[t] - c x[t-1]`` before framing; 0 turns it off (EfficientWord-Net uses 0).
    """

    def __init__(self, sample_rate: int = 16000, win_length: int = 400, hop_length: int = 160, n_fft: int = 512,
                 n_filters: int = 64, low_hz: float = 0.0, high_hz: float | None = None, preemphasis: float = 0.0):
        super().__init__()
        for key, value in (("win_length", win_length), ("hop_length", hop_length), ("n_fft", n_fft),
                           ("n_filters", n_filters)):
            if value < 1:
                raise ConfigError(f"{key} must be at least 1, got {value}")
        if not 0 <= preemphasis < 1:
            raise ConfigError(f"preemphasis must be from 0 to below 1, got {preemphasis}")
        if win_length > n_fft:
            raise ConfigError(f"win_length={win_length} is longer than n_fft={n_fft}; python_speech_features "
                              f"would cut each frame to n_fft samples: raise n_fft")
        self.sample_rate, self.win_length, self.hop_length, self.n_fft = sample_rate, win_length, hop_length, n_fft
        self.preemphasis = float(preemphasis)
        filters = psf_filterbank(n_filters, n_fft, sample_rate, float(low_hz), high_hz)
        if not filters.any(axis=1).all():
            empty = int((~filters.any(axis=1)).sum())
            raise ConfigError(f"{empty} of the {n_filters} filters cover no FFT bin at n_fft={n_fft}: use fewer "
                              f"filters or a larger n_fft")
        self.register_buffer("filters", torch.from_numpy(filters.T.astype(np.float32)), persistent=False)

    @property
    def geometry(self) -> FrameGeometry:
        return FrameGeometry(window=self.win_length, hop=self.hop_length, center=False)

    @property
    def streams_by_frame(self) -> bool:
        # The last frame of every window is padded with zeros at the window's end, which a stream's
        # frames cannot stand in for; streaming runs the layer on each whole window instead.
        return False

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, 1, n_filters, frames)``."""
        if self.preemphasis:
            waveform = torch.cat([waveform[..., :1], waveform[..., 1:] - self.preemphasis * waveform[..., :-1]], -1)
        length = waveform.shape[-1]
        frames = psf_frame_count(length, self.win_length, self.hop_length)
        padded = (frames - 1) * self.hop_length + self.win_length
        waveform = torch.nn.functional.pad(waveform, (0, padded - length))
        framed = waveform.unfold(-1, self.win_length, self.hop_length)               # (batch, frames, win)
        spectrum = torch.fft.rfft(framed, n=self.n_fft)
        power = torch.view_as_real(spectrum).square().sum(-1) / self.n_fft           # (batch, frames, bins)
        energies = power @ self.filters                                              # (batch, frames, filters)
        energies = torch.where(energies == 0, torch.full_like(energies, EPSILON), energies)
        return energies.log().transpose(-1, -2).unsqueeze(-3)
