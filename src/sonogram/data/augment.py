"""Waveform augmentation for training batches: time shift, gain, speed, added noise. Never used in evaluation.

Each clip draws its own random values from the generator, so a seeded run is reproducible.

Example:
    >>> aug = WaveformAugment(AugmentConfig(time_shift=0.1, gain_db=6.0, speed=0.1, noise_prob=1.0), 8000)
    >>> aug(torch.randn(4, 8000), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8000])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sonogram.audio import AUDIO_SUFFIXES, load
from sonogram.config import bounded
from sonogram.errors import ConfigError


@dataclass
class AugmentConfig:
    """Waveform augmentation, training only (SpecAugment is a front-end layer in the design).

    time_shift: max shift in seconds (circular with zero fill); gain_db: max +- gain; speed: max
    relative speed change (also shifts pitch); noise_prob: chance of added noise at an SNR drawn from
    ``noise_snr_db``; noise_dir: a folder of noise recordings (e.g. Speech Commands
    ``_background_noise_``; a relative path is inside the data root), else coloured noise is generated.
    reverb_prob: chance of a simulated room (an impulse response of exponentially decaying noise after
    the direct sound, with a reverberation time drawn from ``reverb_rt60`` seconds and a
    direct-to-reverberant ratio from ``reverb_drr_db``), applied before the noise.
    """

    time_shift: float = bounded(0.0, 0.0)
    gain_db: float = bounded(0.0, 0.0)
    speed: float = bounded(0.0, 0.0, 0.5, below=True)
    noise_prob: float = bounded(0.0, 0.0, 1.0)
    noise_snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    noise_dir: str | None = None
    reverb_prob: float = bounded(0.0, 0.0, 1.0)
    reverb_rt60: list[float] = field(default_factory=lambda: [0.1, 0.6])
    reverb_drr_db: list[float] = field(default_factory=lambda: [0.0, 15.0])


def load_noise_bank(folder: str | Path, sample_rate: int) -> torch.Tensor:
    """Every recording in ``folder`` resampled to ``sample_rate`` and joined end to end: ``(samples,)``."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"augment.noise_dir: no .wav/.flac/.ogg recordings in {folder}")
    return torch.from_numpy(np.concatenate([load(p, sample_rate)[0] for p in files])).float()


def coloured_noise(shape: tuple[int, int], exponent: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise with a ``1 / f ** exponent`` power spectrum per row (0 white, 1 pink, 2 brown), unit RMS."""
    batch, length = shape
    white = torch.randn(batch, length, generator=generator)
    spectrum = torch.fft.rfft(white, dim=-1)  # (batch, freq)
    freqs = torch.arange(1, spectrum.shape[-1] + 1, dtype=torch.float32)
    spectrum = spectrum / freqs[None, :] ** (exponent[:, None] / 2)
    noise = torch.fft.irfft(spectrum, n=length, dim=-1)
    return noise / noise.square().mean(dim=-1, keepdim=True).sqrt().clamp(min=1e-8)


class WaveformAugment(nn.Module):
    """Random shift, gain, speed and noise on a batch ``(batch, time) -> (batch, time)``."""

    def __init__(self, config: AugmentConfig, sample_rate: int, noise_bank: torch.Tensor | None = None):
        super().__init__()
        if not 0.0 <= config.noise_prob <= 1.0:
            raise ConfigError(f"augment.noise_prob must be in [0, 1], got {config.noise_prob}")
        if not 0.0 <= config.speed < 0.5:
            raise ConfigError(f"augment.speed must be in [0, 0.5), got {config.speed}")
        if len(config.noise_snr_db) != 2 or config.noise_snr_db[0] > config.noise_snr_db[1]:
            raise ConfigError(f"augment.noise_snr_db must be [low, high], got {config.noise_snr_db}")
        if config.time_shift < 0 or config.gain_db < 0:
            raise ConfigError("augment.time_shift and augment.gain_db must be >= 0")
        low, high = (config.reverb_rt60 + [0, 0])[:2]
        if len(config.reverb_rt60) != 2 or not 0.01 <= low <= high <= 5.0:
            raise ConfigError(f"augment.reverb_rt60 must be [low, high] seconds within [0.01, 5], got {config.reverb_rt60}")
        if len(config.reverb_drr_db) != 2 or config.reverb_drr_db[0] > config.reverb_drr_db[1]:
            raise ConfigError(f"augment.reverb_drr_db must be [low, high], got {config.reverb_drr_db}")
        self.config, self.sample_rate = config, sample_rate
        self.noise_bank = noise_bank

    @property
    def active(self) -> bool:
        c = self.config
        return bool(c.time_shift or c.gain_db or c.speed or c.noise_prob or c.reverb_prob)

    def forward(self, waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``(batch, time)`` CPU waveforms in and out (it runs on the batch before it moves to the device)."""
        c = self.config
        batch, length = waveform.shape
        x = waveform.float()
        if c.speed:
            x = self._speed(x, 1.0 + (torch.rand(batch, generator=generator) * 2 - 1) * c.speed)
        if c.time_shift:
            max_shift = int(c.time_shift * self.sample_rate)
            x = self._shift(x, torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator))
        if c.gain_db:
            gain_db = (torch.rand(batch, generator=generator) * 2 - 1) * c.gain_db
            x = x * (10.0 ** (gain_db / 20))[:, None]
        if c.reverb_prob:
            x = self._reverb(x, generator)
        if c.noise_prob:
            x = self._noise(x, generator)
        return x

    def _reverb(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Convolve the chosen clips with simulated room impulse responses, keeping each clip's RMS."""
        batch, length = x.shape
        c = self.config
        apply = torch.rand(batch, generator=generator) < c.reverb_prob
        rt60 = c.reverb_rt60[0] + torch.rand(batch, generator=generator) * (c.reverb_rt60[1] - c.reverb_rt60[0])
        drr_db = c.reverb_drr_db[0] + torch.rand(batch, generator=generator) * (c.reverb_drr_db[1] - c.reverb_drr_db[0])
        taps = max(2, int(c.reverb_rt60[1] * self.sample_rate))
        t = torch.arange(taps, dtype=torch.float32)[None, :] / self.sample_rate
        tail = torch.randn(batch, taps, generator=generator) * torch.exp(-6.9078 * t / rt60[:, None])  # -60 dB at rt60
        tail[:, 0] = 0
        tail = tail / tail.square().sum(dim=-1, keepdim=True).sqrt().clamp(min=1e-8) * 10.0 ** (-drr_db[:, None] / 20)
        tail[:, 0] = 1.0  # the direct sound
        n = length + taps
        wet = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(tail, n=n), n=n)[:, :length]
        wet = wet * (x.square().mean(-1, keepdim=True) / wet.square().mean(-1, keepdim=True).clamp(min=1e-12)).sqrt()
        return torch.where(apply[:, None], wet, x)

    @staticmethod
    def _speed(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        """Play each clip ``factor`` times faster (linear interpolation), keeping the length and the centre."""
        batch, length = x.shape
        centre = (length - 1) / 2
        positions = centre + (torch.arange(length, dtype=torch.float32)[None, :] - centre) * factor[:, None]
        inside = (positions >= 0) & (positions <= length - 1)
        positions = positions.clamp(0, length - 1)
        left = positions.floor().long().clamp(max=length - 2)
        frac = positions - left
        out = torch.gather(x, 1, left) * (1 - frac) + torch.gather(x, 1, left + 1) * frac
        return out * inside

    @staticmethod
    def _shift(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        """Move each clip by ``shifts`` samples (positive: later), filling with zeros."""
        length = x.shape[1]
        source = torch.arange(length)[None, :] - shifts[:, None]  # (batch, time)
        valid = (source >= 0) & (source < length)
        return torch.gather(x, 1, source.clamp(0, length - 1)) * valid

    def _noise(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, length = x.shape
        apply = torch.rand(batch, generator=generator) < self.config.noise_prob
        if self.noise_bank is not None and len(self.noise_bank) > length:
            starts = torch.randint(0, len(self.noise_bank) - length, (batch,), generator=generator)
            noise = self.noise_bank[starts[:, None] + torch.arange(length)[None, :]]
            noise = noise / noise.square().mean(dim=-1, keepdim=True).sqrt().clamp(min=1e-8)
        else:
            noise = coloured_noise((batch, length), torch.rand(batch, generator=generator) * 2, generator)
        low, high = self.config.noise_snr_db
        snr_db = low + torch.rand(batch, generator=generator) * (high - low)
        signal_rms = x.square().mean(dim=-1).sqrt()
        scale = signal_rms / 10.0 ** (snr_db / 20) * apply
        return x + noise * scale[:, None]

