"""2-D convnets over spectrogram images, 1 channel (magnitude, mel) or more (complex, deltas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sonogram.config import bounded
from sonogram.errors import ConfigError


@dataclass
class SmallCNNConfig:
    """The Keras example net: two 3x3 'valid' convs, max-pool, dropout, dense, dropout, dense."""

    channels: list[int] = bounded(lambda: [32, 64], 1)
    dense: int = bounded(128, 1)
    dropout: list[float] = bounded(lambda: [0.25, 0.5], 0.0, 1.0, below=True)


class SmallCNN(nn.Module):
    """Example:
        >>> SmallCNN(SmallCNNConfig(), (1, 40, 32), 10)(torch.zeros(2, 1, 40, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: SmallCNNConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, frames = input_shape
        shrink = 2 * len(config.channels)
        if freqs - shrink < 2 or frames - shrink < 2:
            raise ConfigError(f"model small_cnn: {len(config.channels)} unpadded 3x3 convolutions and a 2x2 pool need "
                              f"at least {shrink + 2}x{shrink + 2} features, the front-end gives {freqs}x{frames}")
        if len(config.dropout) != 2:
            raise ConfigError(f"model.dropout must be two rates (after pooling, after dense), got {config.dropout}")
        convs: list[nn.Module] = []
        for width in config.channels:
            convs += [nn.Conv2d(channels, width, 3), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*convs, nn.MaxPool2d(2), nn.Dropout(config.dropout[0]), nn.Flatten())
        flat = channels * ((freqs - shrink) // 2) * ((frames - shrink) // 2)
        self.head = nn.Sequential(nn.Linear(flat, config.dense), nn.ReLU(), nn.Dropout(config.dropout[1]),
                                  nn.Linear(config.dense, num_classes))
        self.to(memory_format=torch.channels_last)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        return self.head(self.features(channels_last(features)))


@dataclass
class CNNConfig:
    """Blocks of conv 3x3 + BatchNorm + ReLU + max-pool 2x2 + dropout, global pooling, dense head."""

    channels: list[int] = bounded(lambda: [16, 32, 64, 128, 256], 1)
    dropout: float = bounded(0.1, 0.0, 1.0, below=True)
    pooling: Literal["avg", "max", "avg+max"] = "avg"
    head_hidden: int = bounded(0, 0)
    head_dropout: float = bounded(0.3, 0.0, 1.0, below=True)


def channels_last(features: torch.Tensor) -> torch.Tensor:
    """``(batch, channel, freq, frames)`` stored channels-last, the layout oneDNN's CPU convolutions run fastest on.

    With the model's weights stored the same way, a training step of the FSDD CNN (batch 32, 2 threads)
    measured 1.26-1.44x faster (``benchmarks/training.py``); BC-ResNet's depthwise convolutions gained
    nothing and fftconv ran 0.7x as fast, so they keep the default layout.
    """
    return features.contiguous(memory_format=torch.channels_last)


def conv_block(in_channels: int, out_channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Dropout(dropout),
    )


class CNN(nn.Module):
    """The five-block convnet (any number of blocks); pooling with ``ceil_mode`` keeps size-1 axes alive.

    Example:
        >>> CNN(CNNConfig(), (2, 129, 63), 12)(torch.zeros(3, 2, 129, 63)).shape
        torch.Size([3, 12])
    """

    def __init__(self, config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        if not config.channels:
            raise ConfigError("model.channels must list at least one block width")
        channels = input_shape[0]
        blocks = []
        for width in config.channels:
            blocks.append(conv_block(channels, width, config.dropout))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pooling = config.pooling
        pooled = channels * (2 if config.pooling == "avg+max" else 1)
        if config.head_hidden:
            self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(pooled, config.head_hidden), nn.ReLU(),
                                      nn.Dropout(config.head_dropout), nn.Linear(config.head_hidden, num_classes))
        else:
            self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(pooled, num_classes))
        self.to(memory_format=torch.channels_last)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        x = self.blocks(channels_last(features)).flatten(2)  # (B, C, F' * T')
        if self.pooling == "avg":
            pooled = x.mean(-1)
        elif self.pooling == "max":
            pooled = x.amax(-1)
        else:
            pooled = torch.cat([x.mean(-1), x.amax(-1)], dim=1)
        return self.head(pooled)
