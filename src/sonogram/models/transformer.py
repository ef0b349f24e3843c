"""Transformer encoder over feature frames (or patches of frames) with a learned positional embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sonogram.config import bounded
from sonogram.errors import ConfigError


@dataclass
class TransformerConfig:
    """patch_frames: frames per token (1: a linear embedding of each frame); pooling: class token or mean."""

    d_model: int = bounded(96, 1)
    nhead: int = bounded(4, 1)
    num_layers: int = bounded(3, 1)
    dim_feedforward: int = bounded(192, 1)
    dropout: float = bounded(0.1, 0.0, 1.0, below=True)
    patch_frames: int = bounded(1, 1)
    pooling: Literal["cls", "mean"] = "cls"


class Transformer(nn.Module):
    """Example:
        >>> Transformer(TransformerConfig(d_model=32, nhead=2), (1, 40, 50), 10)(torch.zeros(2, 1, 40, 50)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: TransformerConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, frames = input_shape
        if config.d_model % config.nhead:
            raise ConfigError(f"model.d_model={config.d_model} must be divisible by model.nhead={config.nhead}")
        if not 1 <= config.patch_frames <= frames:
            raise ConfigError(f"model.patch_frames={config.patch_frames} must be between 1 and the {frames} frames "
                              f"the front-end gives")
        self.pooling = config.pooling
        self.embed = nn.Conv1d(channels * freqs, config.d_model, config.patch_frames, stride=config.patch_frames)
        tokens = frames // config.patch_frames + (config.pooling == "cls")
        self.cls = nn.Parameter(torch.zeros(1, 1, config.d_model)) if config.pooling == "cls" else None
        self.position = nn.Parameter(torch.randn(1, tokens, config.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(config.d_model, config.nhead, config.dim_feedforward, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``."""
        tokens = self.embed(features.flatten(1, 2)).transpose(1, 2)  # (B, T', d_model)
        if self.cls is not None:
            tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        encoded = self.norm(self.encoder(tokens + self.position))  # (B, T' (+1), d_model)
        pooled = encoded[:, 0] if self.cls is not None else encoded.mean(dim=1)
        return self.head(pooled)
