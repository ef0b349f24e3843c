"""A cosine-prototype head: logits are scaled cosines between the flattened features and one learned
prototype per class, the head few-shot keyword work puts on a metric-learned embedding (an ArcFace
ResNet-50 was trained to separate words by angle, not by length).

Example:
    >>> head = CosineHead(CosineConfig(scale=10.0), (1, 2048, 1), 3)
    >>> head(torch.randn(4, 1, 2048, 1)).abs().max() <= 10.0
    tensor(True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sonogram.config import bounded


@dataclass
class CosineConfig:
    """scale: the logits are ``scale * cos`` (the softmax temperature of CosFace/ArcFace heads);
    learn_scale: train the scale too."""

    scale: float = bounded(16.0, 0.0, above=True)
    learn_scale: bool = False


class CosineHead(nn.Module):
    """``(batch, channel, freq, frames) -> (batch, classes)``: ``scale * cos(features, prototype_c)``."""

    def __init__(self, config: CosineConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        size = input_shape[0] * input_shape[1] * input_shape[2]
        self.prototypes = nn.Parameter(torch.randn(num_classes, size) / size ** 0.5)
        scale = torch.tensor(float(config.scale)).log()
        self.log_scale = nn.Parameter(scale) if config.learn_scale else nn.Buffer(scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        flat = nn.functional.normalize(features.flatten(1), dim=1)
        return self.log_scale.exp() * flat @ nn.functional.normalize(self.prototypes, dim=1).T
