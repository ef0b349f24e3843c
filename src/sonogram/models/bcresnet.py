"""BC-ResNet (Kim et al., 2021, "Broadcasted Residual Learning for Efficient Keyword Spotting").

Frequency-wise depthwise convolutions keep the 2-D structure; their output is averaged over
frequency, passed through a cheap temporal depthwise convolution, and broadcast back over the
frequency axis as a residual. Sub-spectral normalisation normalises each band of frequencies
separately. ``width`` is the paper's 8 * tau base channel count (8: BC-ResNet-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sonogram.config import bounded


@dataclass
class BCResNetConfig:
    width: int = bounded(16, 1)
    sub_bands: int = bounded(5, 1)
    dropout: float = bounded(0.1, 0.0, 1.0, below=True)


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics for each of ``sub_bands`` equal bands of frequencies."""

    def __init__(self, channels: int, sub_bands: int):
        super().__init__()
        self.sub_bands = sub_bands
        self.norm = nn.BatchNorm2d(channels * sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, freqs, frames = x.shape
        x = self.norm(x.reshape(batch, channels * self.sub_bands, freqs // self.sub_bands, frames))
        return x.reshape(batch, channels, freqs, frames)


def _bands(freqs: int, sub_bands: int) -> int:
    """The requested band count when it divides the frequency axis, else one band (plain BatchNorm)."""
    return sub_bands if freqs % sub_bands == 0 else 1


def _strided(freqs: int, stride: int) -> int:
    return (freqs - 1) // stride + 1


class BroadcastedBlock(nn.Module):
    """``(B, in, F, T) -> (B, out, F / stride, T)``; a transition block when the width or stride changes."""

    def __init__(self, in_channels: int, out_channels: int, freqs: int, stride: int, dilation: int, sub_bands: int,
                 dropout: float):
        super().__init__()
        self.transition = in_channels != out_channels or stride != 1
        self.expand = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()
        ) if self.transition else nn.Identity()
        out_freqs = _strided(freqs, stride)
        self.frequency = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, (3, 1), stride=(stride, 1), padding=(1, 0), groups=out_channels,
                      bias=False),
            SubSpectralNorm(out_channels, _bands(out_freqs, sub_bands)),
        )
        self.temporal = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, (1, 3), padding=(0, dilation), dilation=(1, dilation),
                      groups=out_channels, bias=False),
            nn.BatchNorm2d(out_channels), nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 1, bias=False), nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        x = self.expand(x)
        spectral = self.frequency(x)  # (B, C, F', T)
        temporal = self.temporal(spectral.mean(dim=2, keepdim=True))  # (B, C, 1, T)
        out = spectral + temporal
        if not self.transition:
            out = out + identity
        return torch.relu(out)


class BCResNet(nn.Module):
    """Stem, four stages of broadcasted blocks (2, 2, 4, 4), a depthwise + pointwise tail, global pooling.

    Example:
        >>> net = BCResNet(BCResNetConfig(width=8), (1, 40, 101), 12)
        >>> net(torch.zeros(2, 1, 40, 101)).shape
        torch.Size([2, 12])
    """

    STAGES = ((2, 1, 1), (2, 2, 2), (4, 2, 4), (4, 1, 8))  # (blocks, frequency stride, temporal dilation)
    WIDTHS = (1.0, 1.5, 2.0, 2.5)  # stage width per base width

    def __init__(self, config: BCResNetConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, _ = input_shape
        base = config.width
        self.stem = nn.Sequential(nn.Conv2d(channels, 2 * base, 5, stride=(2, 1), padding=2, bias=False),
                                  nn.BatchNorm2d(2 * base), nn.ReLU())
        freqs = _strided(freqs, 2)
        in_channels = 2 * base
        blocks = []
        for (count, stride, dilation), scale in zip(self.STAGES, self.WIDTHS):
            out_channels = int(base * scale)
            for i in range(count):
                block_stride = stride if i == 0 else 1
                blocks.append(BroadcastedBlock(in_channels, out_channels, freqs, block_stride, dilation,
                                               config.sub_bands, config.dropout))
                freqs = _strided(freqs, block_stride)
                in_channels = out_channels
        self.stages = nn.Sequential(*blocks)
        self.tail = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 5, padding=2, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, 4 * base, 1, bias=False), nn.BatchNorm2d(4 * base), nn.ReLU(),
        )
        self.head = nn.Linear(4 * base, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        x = self.tail(self.stages(self.stem(features)))
        return self.head(x.mean(dim=(2, 3)))
