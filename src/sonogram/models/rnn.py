"""Recurrent nets over feature frames: LSTM or GRU, uni- or bi-directional, with a pooling of the frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sonogram.config import bounded


@dataclass
class RNNConfig:
    """pooling: ``last`` (final state of each direction), ``mean`` over frames, or learned ``attention``."""

    cell: Literal["lstm", "gru"] = "lstm"
    hidden: int = bounded(128, 1)
    num_layers: int = bounded(2, 1)
    bidirectional: bool = True
    pooling: Literal["last", "mean", "attention"] = "attention"
    dropout: float = bounded(0.2, 0.0, 1.0, below=True)


class RNN(nn.Module):
    """Each frame's ``channel * freq`` features are one time step.

    Example:
        >>> RNN(RNNConfig(hidden=16), (1, 40, 50), 10)(torch.zeros(2, 1, 40, 50)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: RNNConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, _ = input_shape
        cell = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = cell(channels * freqs, config.hidden, num_layers=config.num_layers, batch_first=True,
                        bidirectional=config.bidirectional, dropout=config.dropout if config.num_layers > 1 else 0.0)
        out = config.hidden * (2 if config.bidirectional else 1)
        self.pooling, self.bidirectional = config.pooling, config.bidirectional
        self.attention = nn.Linear(out, 1) if config.pooling == "attention" else None
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(out, num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        x = features.flatten(1, 2).transpose(1, 2)  # (B, T, C * F)
        outputs, state = self.rnn(x)  # (B, T, H * directions)
        if self.pooling == "last":
            hidden = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
            pooled = torch.cat([hidden[-2], hidden[-1]], dim=-1) if self.bidirectional else hidden[-1]
        elif self.pooling == "mean":
            pooled = outputs.mean(dim=1)
        else:
            weights = self.attention(outputs).softmax(dim=1)  # (B, T, 1)
            pooled = (weights * outputs).sum(dim=1)
        return self.head(pooled)
