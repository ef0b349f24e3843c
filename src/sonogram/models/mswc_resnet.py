"""EfficientWord-Net's speech embedding, rebuilt in torch: a slimmed ResNet-50 trained with an ArcFace loss
on the Multilingual Spoken Words Corpus, that maps a 1.5 s log filterbank to a unit-length 2048-d vector.

The network is the ONNX graph shipped in the ``efficientword-net`` wheel, op for op: per-clip min-max
scaling of the filterbank to [-1, 1], a one-channel batch norm, the ResNet-50 stem, bottleneck stages of
3, 4, 6 and 3 blocks (widths 61, 122, 243, 486; stride on the 3x3 convolution; batch norms folded into
the convolutions), global average pooling, a batch norm and L2 normalisation. The weights are copied
from the graph's initializers (:func:`load_onnx_weights`), so the rebuild batches freely where the graph
takes one clip at a time.

Example:
    >>> net = MswcResNet()
    >>> net(torch.randn(2, 1, 149, 64)).shape      # (batch, 1, frames, filters) -> (batch, 2048)
    torch.Size([2, 2048])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sonogram.errors import ConfigError

STEM = 61
STAGES = ((3, 61, 256, 1), (4, 122, 512, 2), (6, 243, 1024, 2), (3, 486, 2048, 2))  # blocks, width, out, stride


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1, plus a shortcut that is projected in the first block of a stage."""

    def __init__(self, inputs: int, width: int, outputs: int, stride: int, project: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 1)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1)
        self.conv3 = nn.Conv2d(width, outputs, 1)
        self.shortcut = nn.Conv2d(inputs, outputs, 1, stride) if project else nn.Identity()

    def convolutions(self) -> list[nn.Conv2d]:
        """In the order the ONNX graph holds them."""
        return [self.conv1, self.conv2, self.conv3] + ([self.shortcut] if isinstance(self.shortcut, nn.Conv2d) else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        return torch.relu(y + self.shortcut(x))


class MswcResNet(nn.Module):
    """``(batch, 1, frames, filters)`` log filterbank -> ``(batch, 2048)`` unit-length embedding."""

    def __init__(self):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(1)
        self.stem = nn.Conv2d(1, STEM, 7, 2, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks, inputs = [], STEM
        for count, width, outputs, stride in STAGES:
            for i in range(count):
                blocks.append(Bottleneck(inputs, width, outputs, stride if i == 0 else 1, project=i == 0))
                inputs = outputs
        self.blocks = nn.Sequential(*blocks)
        self.output_norm = nn.BatchNorm1d(inputs)

    @property
    def last_stage(self) -> nn.Module:
        """The last three bottlenecks (stage 4), the part fine-tuned with ``trainable: last_block``."""
        return self.blocks[-STAGES[-1][0]:]

    def trunk(self, fbank: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, frames, filters) -> (batch, 1024, frames / 16, filters / 16)``: all but the last stage."""
        flat = fbank.flatten(1)
        low, high = flat.amin(1), flat.amax(1)
        # The graph divides by (max - min) as it is; a constant input (digital silence) would give 0/0.
        span = (high - low).clamp_min(torch.finfo(fbank.dtype).tiny)
        x = 2 * (fbank - low[:, None, None, None]) / span[:, None, None, None] - 1
        x = self.pool(torch.relu(self.stem(self.input_norm(x))))
        return self.blocks[:-STAGES[-1][0]](x)

    def top(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage, pooling and normalisation: :meth:`trunk`'s output -> ``(batch, 2048)``."""
        x = self.last_stage(x).mean((-2, -1))
        return nn.functional.normalize(self.output_norm(x), dim=1, eps=1e-12)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.top(self.trunk(fbank))


def load_onnx_weights(net: MswcResNet, path: Path) -> None:
    """Copy the initializers of EfficientWord-Net's ONNX graph into ``net`` (convolutions in graph order)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    convolutions = [net.stem] + [conv for block in net.blocks for conv in block.convolutions()]
    nodes = [node for node in graph.node if node.op_type == "Conv"]
    if len(nodes) != len(convolutions):
        raise ConfigError(f"{path.name} holds {len(nodes)} convolutions; the MSWC ResNet-50 has {len(convolutions)}")
    state: dict[str, torch.Tensor] = {}
    names = {module: name for name, module in net.named_modules()}
    for node, conv in zip(nodes, convolutions):
        weight, bias = (arrays[name] for name in node.input[1:3])
        if weight.shape != tuple(conv.weight.shape):
            raise ConfigError(f"{path.name}: convolution {node.name} is {weight.shape}, expected {tuple(conv.weight.shape)}")
        state[f"{names[conv]}.weight"], state[f"{names[conv]}.bias"] = torch.tensor(weight), torch.tensor(bias)
    for ours, theirs in (("input_norm", "inp_batch_norm"), ("output_norm", "bn_final")):
        for key in ("weight", "bias", "running_mean", "running_var"):
            state[f"{ours}.{key}"] = torch.tensor(arrays[f"{theirs}.{key}"])
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ConfigError(f"{path.name} does not fit the MSWC ResNet-50: missing {missing}, unexpected {unexpected}")
