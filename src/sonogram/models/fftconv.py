"""The net-designer network: FFT frames -> convolution over groups of frames -> fully connected net.

The front-end is the "FFT process node" (e.g. ``decimate`` by the down-conversion rate, then a
``spectrogram`` with the FFT size and stride). This model slides a window of ``frame_size`` FFT
frames along the clip (the "input frame size"), classifies each window, and aggregates the windows
into the clip prediction, so it also gives a prediction per window along the clip.

Inside a window, the convolution maps each group of ``conv_size`` consecutive FFT frames (stepping
``conv_stride`` frames) to ``conv_out`` output frames with one kernel shared by every frequency bin
(the "input convolution size/stride" and "output convolution size"); ``conv_freq`` > 1 lets the
kernel also span neighbouring bins. Set ``convolution: false`` for the plain FFT + fully connected
net it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sonogram.config import bounded
from sonogram.errors import ConfigError
from sonogram.models.mlp import dense_stack


@dataclass
class FFTConvConfig:
    frame_size: int = bounded(8, 1)
    window_stride: int = bounded(1, 1)
    convolution: bool = True
    conv_size: int = bounded(4, 1)
    conv_stride: int = bounded(4, 1)
    conv_out: int = bounded(2, 1)
    conv_freq: int = bounded(1, 1)
    hidden: list[int] = bounded(lambda: [128, 64], 1)
    dropout: float = bounded(0.2, 0.0, 1.0, below=True)
    aggregate: Literal["mean_log_prob", "mean_logits"] = "mean_log_prob"


class FFTConvNet(nn.Module):
    """Per-window classifier over FFT frames with clip-level aggregation.

    Example:
        >>> net = FFTConvNet(FFTConvConfig(), (1, 65, 20), 10)
        >>> net(torch.zeros(2, 1, 65, 20)).shape, net.frame_logits(torch.zeros(2, 1, 65, 20)).shape
        (torch.Size([2, 10]), torch.Size([2, 13, 10]))
    """

    def __init__(self, config: FFTConvConfig, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, freqs, frames = input_shape
        if config.frame_size > frames:
            raise ConfigError(f"model.frame_size={config.frame_size} FFT frames is more than the {frames} frames "
                              f"the front-end gives; lower frame_size or use a longer clip / smaller FFT stride")
        if config.window_stride < 1:
            raise ConfigError(f"model.window_stride must be >= 1, got {config.window_stride}")
        self.config = config
        if config.convolution:
            if config.conv_size > config.frame_size:
                raise ConfigError(f"model.conv_size={config.conv_size} is larger than model.frame_size="
                                  f"{config.frame_size} FFT frames it convolves")
            if config.conv_stride < 1 or config.conv_out < 1:
                raise ConfigError("model.conv_stride and model.conv_out must be >= 1")
            if config.conv_freq < 1 or config.conv_freq % 2 == 0 or config.conv_freq > freqs:
                raise ConfigError(f"model.conv_freq must be odd and between 1 and the {freqs} frequency bins, "
                                  f"got {config.conv_freq}")
            positions = (config.frame_size - config.conv_size) // config.conv_stride + 1
            self.conv = nn.Sequential(
                nn.Conv2d(channels, config.conv_out, (config.conv_freq, config.conv_size), stride=(1, config.conv_stride),
                          padding=(config.conv_freq // 2, 0)),
                nn.ReLU(),
            )
            in_features = config.conv_out * freqs * positions
        else:
            self.conv = nn.Identity()
            in_features = channels * freqs * config.frame_size
        self.flatten = nn.Flatten()
        self.classifier = dense_stack(in_features, config.hidden, num_classes, config.dropout)

    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, windows, classes)``, one row per window of frames."""
        batch, channels, freqs, _ = features.shape
        windows = features.unfold(-1, self.config.frame_size, self.config.window_stride)  # (B, C, F, W, size)
        n_windows = windows.shape[3]
        windows = windows.permute(0, 3, 1, 2, 4).reshape(batch * n_windows, channels, freqs, -1)
        logits = self.classifier(self.flatten(self.conv(windows)))  # (B * W, classes)
        return logits.reshape(batch, n_windows, -1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames) -> (batch, classes)``: the windows' log-probabilities (or logits) averaged."""
        logits = self.frame_logits(features)
        if self.config.aggregate == "mean_log_prob":
            return logits.log_softmax(dim=-1).mean(dim=1)
        return logits.mean(dim=1)
