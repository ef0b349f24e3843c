"""A real-valued STFT for export: a strided 1-D convolution with the windowed DFT basis.

``torch.stft`` returns complex tensors, which neither ONNX nor ``torch.jit`` can carry. This
module computes the same numbers with real arithmetic only (pad, ``Conv``, squares), which every
onnxruntime execution provider runs. Training keeps :class:`~sonogram.features.layers.Spectrogram`;
:func:`export_ready` swaps it for :class:`ConvSpectrogram` in a copy of a network just before export.

Example:
    >>> import torch
    >>> from sonogram.features.layers import Spectrogram
    >>> layer = Spectrogram(n_fft=256, hop_length=64)
    >>> conv = ConvSpectrogram.from_layer(layer)
    >>> x = torch.randn(2, 8000)
    >>> conv(x).shape, bool((conv(x) - layer(x)).abs().max() < 1e-3)
    (torch.Size([2, 1, 129, 126]), True)
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sonogram.features import functional as Fn
from sonogram.features.layers import Spectrogram


def conv_stft(waveform: torch.Tensor, kernels: torch.Tensor, hop_length: int, center: bool = True,
              pad_mode: str = "reflect", pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """STFT as a convolution: ``(..., time) -> (real, imag)``, each ``(..., freq, frames)``.

    Args:
        kernels: ``(2 * freq, 1, n_fft)`` windowed DFT basis (real rows, then imaginary rows), as
            :func:`~sonogram.features.functional.dft_kernels` builds it.
        center: pad ``n_fft // 2`` samples on both sides with ``pad_mode``, as ``torch.stft`` does.
        pad: zeros added on both sides first (torchaudio's ``pad``).
    """
    shape = waveform.shape
    x = waveform.reshape(-1, 1, shape[-1])  # (B, 1, time)
    if pad > 0:
        x = F.pad(x, (pad, pad))
    if center:
        half = kernels.shape[-1] // 2
        x = F.pad(x, (half, half), mode=pad_mode)
    out = F.conv1d(x, kernels, stride=hop_length)  # (B, 2 * freq, frames)
    real, imag = out.chunk(2, dim=1)  # (B, freq, frames) each
    return real.reshape(shape[:-1] + real.shape[1:]), imag.reshape(shape[:-1] + imag.shape[1:])


class ConvSpectrogram(nn.Module):
    """The output of :class:`~sonogram.features.layers.Spectrogram` with real arithmetic only.

    ``(..., time) -> (..., C, n_fft // 2 + 1, frames)``: C = 2 (real, imaginary) when ``power`` is
    ``None``, else 1. The window (and ``normalized``'s 1 / ||window||) is folded into the
    ``kernels`` buffer, built in float64 and stored in float32.
    """

    def __init__(self, n_fft: int, hop_length: int, window: torch.Tensor, power: float | None = 2.0,
                 normalized: bool = False, center: bool = True, pad_mode: str = "reflect", pad: int = 0):
        super().__init__()
        window = window.detach().to(torch.float64).cpu()
        kernels = Fn.dft_kernels(n_fft, window)  # (2 * freq, n_fft)
        if normalized:
            kernels = kernels / window.square().sum().sqrt()
        self.register_buffer("kernels", kernels.float().unsqueeze(1))  # (2 * freq, 1, n_fft)
        self.hop_length, self.power, self.center, self.pad_mode, self.pad = hop_length, power, center, pad_mode, pad

    @classmethod
    def from_layer(cls, layer: Spectrogram) -> ConvSpectrogram:
        """The convolution equivalent of a built :class:`Spectrogram` (its window buffer included)."""
        return cls(layer.n_fft, layer.hop_length, layer.window, layer.power, layer.normalized, layer.center,
                   layer.pad_mode, layer.pad).to(layer.window.device)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., C, freq, frames)``."""
        real, imag = conv_stft(waveform, self.kernels, self.hop_length, self.center, self.pad_mode, self.pad)
        if self.power is None:
            return torch.stack([real, imag], dim=-3)
        power = real.square() + imag.square()
        if self.power == 2.0:
            spec = power
        elif self.power == 1.0:
            spec = power.sqrt()
        else:
            spec = power.pow(self.power / 2)
        return spec.unsqueeze(-3)


def export_ready(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode with every :class:`Spectrogram` replaced by :class:`ConvSpectrogram`.

    The original is left untouched, so training still computes features with ``torch.stft``.
    """
    if isinstance(module, Spectrogram):
        return ConvSpectrogram.from_layer(module).eval()
    ready = copy.deepcopy(module).eval()
    targets = [name for name, child in ready.named_modules() if isinstance(child, Spectrogram)]
    for name in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = ready.get_submodule(parent_name) if parent_name else ready
        setattr(parent, attr, ConvSpectrogram.from_layer(getattr(parent, attr)).eval())
    return ready
