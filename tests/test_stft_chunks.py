"""The chunked STFT and the float32 mel path with float64 refinement of quiet frames.

Tolerances: the chunked STFT equals ``torch.stft`` to float rounding (1e-5 relative in float32,
1e-12 in float64); the default float32 log-mel is within 2e-4 dB of the all-float64 one.
"""

import numpy as np
import pytest
import torch

from sonogram.errors import ConfigError
from sonogram.features import functional as Fn
from sonogram.features import layers as fe


def speech_with_quiet_band(sr: int) -> torch.Tensor:
    """Harmonics from 120 Hz with faint noise: the band below f0 is ~80 dB under the frame's energy."""
    rng = np.random.default_rng(1)
    t = np.arange(sr) / sr
    y = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 12)) + 1e-4 * rng.standard_normal(sr)
    return torch.from_numpy((0.3 * y / np.abs(y).max()).astype(np.float32))


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("center,pad_mode", [(True, "reflect"), (True, "constant"), (False, "reflect")])
def test_chunked_stft_equals_torch_stft_across_chunks(monkeypatch, dtype, rtol, center, pad_mode):
    monkeypatch.setattr(Fn, "CHUNK_BYTES", 3 * 63 * 256 * 8)  # a few clips per chunk, a ragged last chunk
    x = torch.randn(2, 5, 8000, dtype=dtype, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(200, dtype=dtype)
    ours = Fn.spectrogram(x, 256, 128, 200, window, power=None, center=center, pad_mode=pad_mode)
    ref = torch.stft(x.reshape(10, -1), 256, 128, 200, window, center=center, pad_mode=pad_mode,
                     return_complex=True).reshape(2, 5, 129, -1)
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().norm() / ref.abs().norm()) <= rtol


def test_float32_log_mel_refines_quiet_frames(monkeypatch):
    x = speech_with_quiet_band(8000)
    kwargs = dict(sample_rate=8000, n_fft=256, hop_length=80, n_mels=64, f_min=20.0, f_max=3800.0)
    exact = fe.LogMelSpectrogram(float64_stft=True, **kwargs)(x)
    refined = fe.LogMelSpectrogram(**kwargs)(x)
    assert float((refined - exact).abs().max()) <= 2e-4
    monkeypatch.setattr(Fn, "QUIET_BAND", 0.0)  # no refinement: the plain float32 FFT
    plain = fe.LogMelSpectrogram(**kwargs)(x)
    assert float((plain - exact).abs().max()) > 5 * float((refined - exact).abs().max())


def test_mel_matches_float64_within_float32_rounding_for_loud_frames():
    x = torch.randn(4, 16000, generator=torch.Generator().manual_seed(2))
    kwargs = dict(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64)
    exact = fe.MelSpectrogram(float64_stft=True, **kwargs)(x)
    ours = fe.MelSpectrogram(**kwargs)(x)
    assert float(((ours - exact).abs() / exact).max()) <= 1e-5


@pytest.mark.parametrize("center,length", [(True, 100), (False, 200)])
def test_clip_shorter_than_the_frame_is_one_clear_error(center, length):
    with pytest.raises(ConfigError, match="n_fft"):
        fe.LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40, center=center)(torch.zeros(1, length))
