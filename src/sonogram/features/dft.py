"""A real-valued STFT for export: the windowed DFT basis applied as a strided 1-D convolution.

``torch.stft`` returns complex tensors, which neither ONNX nor ``torch.jit`` can carry. This
module computes the same numbers with real arithmetic only (pad, ``Conv`` or, for a float64 STFT,
gathered frames times the basis, squares), which every onnxruntime execution provider runs. Training keeps :class:`~sonogram.features.layers.Spectrogram`;
:func:`export_ready` swaps it for :class:`ConvSpectrogram` in a copy of a network just before export.

Example:
    >>> import torch
    >>> from sonogram.features.layers import Spectrogram
    >>> layer = Spectrogram(n_fft=256, hop_length=64)
    >>> conv = ConvSpectrogram.from_layer(layer)
    >>> x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    >>> want = layer(x)
    >>> conv(x).shape, bool((conv(x) - want).abs().max() < 1e-5 * want.max())
    (torch.Size([2, 1, 129, 126]), True)
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sonogram.features import functional as Fn
from sonogram.features.layers import FFT, MelSpectrogram, Spectrogram


def conv_stft(waveform: torch.Tensor, kernels: torch.Tensor, hop_length: int, center: bool = True,
              pad_mode: str = "reflect", pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """STFT as a convolution: ``(..., time) -> (real, imag)``, each ``(..., freq, frames)`` in float32.

    Args:
        kernels: ``(2 * freq, 1, n_fft)`` windowed DFT basis (real rows, then imaginary rows), as
            :func:`~sonogram.features.functional.dft_kernels` builds it. float32 kernels run as a
            strided ``conv1d``; float64 kernels multiply gathered frames in float64 (onnxruntime has no
            float64 ``Conv``), for the accuracy of a float64 FFT in quiet bins.
        center: pad ``n_fft // 2`` samples on both sides with ``pad_mode``, as ``torch.stft`` does.
        pad: zeros added on both sides first (torchaudio's ``pad``).
    """
    shape = waveform.shape
    x = waveform.reshape(-1, 1, shape[-1])  # (B, 1, time)
    if pad > 0:
        x = F.pad(x, (pad, pad))
    n_fft = kernels.shape[-1]
    if center:
        x = F.pad(x, (n_fft // 2, n_fft // 2), mode=pad_mode)
    if kernels.dtype == torch.float64:
        count = (x.shape[-1] - n_fft) // hop_length + 1
        index = torch.arange(count, device=x.device)[:, None] * hop_length + torch.arange(n_fft, device=x.device)
        frames = x[:, 0, index].to(torch.float64)  # (B, frames, n_fft)
        out = torch.matmul(frames, kernels[:, 0].t()).transpose(1, 2).float()  # (B, 2 * freq, frames)
    else:
        out = F.conv1d(x, kernels, stride=hop_length)  # (B, 2 * freq, frames)
    real, imag = out.chunk(2, dim=1)  # (B, freq, frames) each
    return real.reshape(shape[:-1] + real.shape[1:]), imag.reshape(shape[:-1] + imag.shape[1:])


class ConvSpectrogram(nn.Module):
    """The output of :class:`~sonogram.features.layers.Spectrogram` with real arithmetic only.

    ``(..., time) -> (..., C, n_fft // 2 + 1, frames)``: C = 2 (real, imaginary) when ``power`` is
    ``None``, else 1. The window (and ``normalized``'s 1 / ||window||) is folded into the
    ``kernels`` buffer, built in float64 and kept in float64 when ``float64`` (the layer's
    ``float64_stft``: quiet bins as accurate as a float64 FFT), else in float32 (a plain ``conv1d``).
    """

    def __init__(self, n_fft: int, hop_length: int, window: torch.Tensor, power: float | None = 2.0,
                 normalized: bool = False, center: bool = True, pad_mode: str = "reflect", pad: int = 0,
                 float64: bool = False):
        super().__init__()
        window = window.detach().to(torch.float64).cpu()
        kernels = Fn.dft_kernels(n_fft, window)  # (2 * freq, n_fft)
        if normalized:
            kernels = kernels / window.square().sum().sqrt()
        dtype = torch.float64 if float64 else torch.float32
        self.register_buffer("kernels", kernels.to(dtype).unsqueeze(1))  # (2 * freq, 1, n_fft)
        self.hop_length, self.power, self.center, self.pad_mode, self.pad = hop_length, power, center, pad_mode, pad

    @classmethod
    def from_layer(cls, layer: Spectrogram) -> ConvSpectrogram:
        """The convolution equivalent of a built :class:`Spectrogram` (its window buffer included)."""
        return cls(layer.n_fft, layer.hop_length, layer.window, layer.power, layer.normalized, layer.center,
                   layer.pad_mode, layer.pad, layer.float64_stft).to(layer.window.device)

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


class Float64FFT(FFT):
    """:class:`~sonogram.features.layers.FFT` computed in float64 (exported as the ``DFT`` operator).

    A whole-clip FFT is too long for a convolution basis (8000 samples would need a 256 MB matrix);
    onnxruntime's float32 ``DFT`` of such non-power-of-two lengths is ~1e-4 off in the logits, its
    float64 one matches eager torch to ~1e-6.
    """

    @classmethod
    def from_layer(cls, layer: FFT) -> Float64FFT:
        return cls(layer.n_fft, layer.output)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., C, n_fft // 2 + 1, 1)`` in the input's dtype."""
        return super().forward(waveform.double()).to(waveform.dtype)


class ConvMelSpectrogram(nn.Module):
    """:class:`~sonogram.features.layers.MelSpectrogram` as its :class:`ConvSpectrogram` then its filterbank.

    Training fuses the STFT, power and filterbank into one chunked pass; the exported graph keeps
    them as two plain steps (``(..., time) -> (..., 1, n_mels, frames)``).
    """

    def __init__(self, spectrogram: ConvSpectrogram, mel_scale: nn.Module):
        super().__init__()
        self.spectrogram, self.mel_scale = spectrogram, mel_scale

    @classmethod
    def from_layer(cls, layer: MelSpectrogram) -> ConvMelSpectrogram:
        return cls(ConvSpectrogram.from_layer(layer.spectrogram), copy.deepcopy(layer.mel_scale))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.mel_scale(self.spectrogram(waveform))


def _complex(layer: nn.Module) -> bool:
    return isinstance(layer, (Spectrogram, MelSpectrogram)) or (isinstance(layer, FFT) and not isinstance(layer, Float64FFT))


def _exportable(layer: Spectrogram | MelSpectrogram | FFT) -> nn.Module:
    if isinstance(layer, MelSpectrogram):
        return ConvMelSpectrogram.from_layer(layer).eval()
    if isinstance(layer, Spectrogram):
        return ConvSpectrogram.from_layer(layer).eval()
    return Float64FFT.from_layer(layer).eval()


def export_ready(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode whose complex-valued layers are exportable.

    Every :class:`MelSpectrogram` becomes a :class:`ConvMelSpectrogram`, every other :class:`Spectrogram`
    a :class:`ConvSpectrogram` and every :class:`FFT` a :class:`Float64FFT`. The original is left untouched, so training still computes features with
    ``torch.stft``.
    """
    if _complex(module):
        return _exportable(module)
    ready = copy.deepcopy(module).eval()
    targets: list[str] = []
    for name, child in ready.named_modules():  # outermost first; a swapped layer takes its children along
        if _complex(child) and not any(name.startswith(f"{t}.") for t in targets):
            targets.append(name)
    for name in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = ready.get_submodule(parent_name) if parent_name else ready
        setattr(parent, attr, _exportable(getattr(parent, attr)))
    return ready
