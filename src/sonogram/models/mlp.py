"""Fully connected nets: the raw-waveform baseline and FFT + hidden layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sonogram.config import bounded

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


@dataclass
class MLPConfig:
    """hidden: sizes of the hidden layers; dropout after each; optional BatchNorm before the activation."""

    hidden: list[int] = bounded(lambda: [256, 256], 1)
    dropout: float = bounded(0.2, 0.0, 1.0, below=True)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    batch_norm: bool = False


def dense_stack(in_features: int, hidden: list[int], num_classes: int, dropout: float, activation: str = "relu",
                batch_norm: bool = False) -> nn.Sequential:
    """Linear (+BatchNorm) + activation + dropout per hidden size, then a Linear to the classes."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers.append(nn.Linear(in_features, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers += [ACTIVATIONS[activation](), nn.Dropout(dropout)]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """Flattens the whole feature map and classifies it with fully connected layers.

    Example:
        >>> MLP(MLPConfig(hidden=[32]), (1, 1, 8000), 10)(torch.zeros(2, 1, 1, 8000)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: MLPConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, frames = input_shape
        self.flatten = nn.Flatten()
        self.layers = dense_stack(channels * freqs * frames, config.hidden, num_classes, config.dropout,
                                  config.activation, config.batch_norm)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        return self.layers(self.flatten(features))
