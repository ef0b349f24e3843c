"""Network designs: a typed config that wires a front-end chain and a model into one ``nn.Module``.

A design names its layers the way the net-designer GUI wires nodes: sound input (``sample_rate``,
``num_samples``), front-end process nodes, then a model that ends in the classification head.
Every layer's input size is found by shape propagation, so nobody computes a flattened size by hand.

Example:
    >>> design = DesignConfig(sample_rate=8000, num_samples=8000, num_classes=10,
    ...                       frontend=[{"name": "log_mel", "n_fft": 256, "hop_length": 128, "n_mels": 40}],
    ...                       model={"name": "cnn", "channels": [8, 16]})
    >>> net = build_network(design)
    >>> net(torch.zeros(4, 8000)).shape, net.feature_shape
    (torch.Size([4, 10]), (1, 40, 63))
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from sonogram.audio import DEFAULT_MAX_SECONDS, MAX_SAMPLE_RATE
from sonogram.config import apply_overrides, bounded, from_dict, load_yaml, to_dict
from sonogram.errors import ConfigError
from sonogram.models import MODELS
from sonogram.network.frontend import build_frontend

@dataclass
class DesignConfig:
    """A network design.

    Attributes:
        sample_rate: rate of the waveforms the network takes (Hz).
        num_samples: clip length in samples; clips are padded or cut to it before the network.
        num_classes: output size (set from the dataset's labels when training).
        align: how a clip of another length is fitted to ``num_samples``: ``"center"`` (pad or cut
            both ends equally) or ``"left"`` (keep the start). Part of the input contract, so
            ``model.pt`` and exported models carry it.
        frontend: front-end layers in order, each ``{"name": <one of FRONTENDS>, **arguments}`` (see
            :mod:`sonogram.network.frontend`; ``fuse`` joins branches of layers side by side).
        model: ``{"name": <one of MODELS>, **arguments}``.
    """

    sample_rate: int = bounded(16000, 1, MAX_SAMPLE_RATE)
    num_samples: int = bounded(16000, 1)
    num_classes: int = bounded(10, 2)
    align: Literal["center", "left"] = "center"
    frontend: list[dict] = field(default_factory=lambda: [{"name": "log_mel", "n_mels": 40}])
    model: dict = field(default_factory=lambda: {"name": "cnn"})

    def __post_init__(self) -> None:
        seconds = self.num_samples / self.sample_rate
        if seconds > DEFAULT_MAX_SECONDS:
            raise ConfigError(f"design.num_samples={self.num_samples} at {self.sample_rate} Hz is a {seconds:,.0f} s "
                              f"clip; the limit is {DEFAULT_MAX_SECONDS:g} s")


class Network(nn.Module):
    """Waveforms in, logits out: ``(batch, num_samples) -> (batch, num_classes)``."""

    def __init__(self, design: DesignConfig, frontend: nn.Sequential, model: nn.Module,
                 feature_shape: tuple[int, int, int]):
        super().__init__()
        self.design, self.feature_shape = design, feature_shape
        self.frontend, self.model = frontend, model

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, num_samples) -> (batch, channel, freq, frames)``."""
        if waveform.shape[-1] != self.design.num_samples:
            raise ValueError(f"the network takes clips of {self.design.num_samples} samples, got {waveform.shape[-1]}")
        device = waveform.device.type
        # Mixed precision is for the model: the features stay as exact as librosa's.
        if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self.frontend(waveform)
        return self.frontend(waveform)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.model(self.features(waveform))

    @property
    def cacheable_layers(self) -> int:
        """How many leading front-end layers give outputs that may be computed once per clip
        (:attr:`~sonogram.features.base.FrontendLayer.cacheable`); 0 when the first cannot."""
        count = 0
        for layer in self.frontend:
            if not getattr(layer, "cacheable", False):
                break
            count += 1
        return count

    def features_from(self, inputs: torch.Tensor, start: int) -> torch.Tensor:
        """Features from the outputs of the first ``start`` front-end layers (e.g. cached embeddings):
        ``features(w) == features_from(frontend[:start](w), start)``."""
        device = inputs.device.type
        with torch.autocast(device, enabled=False) if (torch.amp.is_autocast_available(device)
                                                       and torch.is_autocast_enabled(device)) else nullcontext():
            return self.frontend[start:](inputs)

    def forward_from(self, inputs: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the outputs of the first ``start`` front-end layers: ``forward(w) ==
        forward_from(frontend[:start](w), start)``."""
        return self.model(self.features_from(inputs, start))

    @property
    def has_frames(self) -> bool:
        return hasattr(self.model, "frame_logits")

    def frame_logits(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, num_samples) -> (batch, windows, classes)`` for models that classify windows of frames."""
        if not self.has_frames:
            raise ConfigError(f"model {self.design.model['name']!r} gives one prediction per clip, not per frame")
        return self.model.frame_logits(self.features(waveform))


MAX_PARAMETERS = 10**8  # a model's own parameters (not the front-end's): 0.4 GB of weights, ~2 GB to train with Adam


def build_model(design: DesignConfig, feature_shape: tuple[int, int, int]) -> nn.Module:
    """The model named in ``design.model``, built for features of ``feature_shape``."""
    spec = design.model
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"model: expected a mapping with a 'name' (one of {', '.join(MODELS)}), got {spec!r}")
    if spec["name"] not in MODELS:
        raise ConfigError(f"model: unknown model {spec['name']!r}; valid: {', '.join(MODELS)}")
    config_cls, model_cls = MODELS[spec["name"]]
    config = from_dict(config_cls, {k: v for k, v in spec.items() if k != "name"}, "model")
    try:
        with torch.device("meta"):  # the size first, without allocating it: a hidden size of 10**9 is 10**11 floats
            params = count_params(model_cls(config, feature_shape, design.num_classes))
        if params > MAX_PARAMETERS:
            raise ConfigError(f"model ({spec['name']}) would have {params:,} parameters for features "
                              f"{tuple(feature_shape)}; the limit is {MAX_PARAMETERS:,}")
        model = model_cls(config, feature_shape, design.num_classes)
        with torch.no_grad():  # one pass catches every size that cannot work, as one named error
            model.eval()(torch.zeros(1, *feature_shape))
    except ConfigError:
        raise
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model ({spec['name']}) cannot be built for features {tuple(feature_shape)}: {first}") from None
    return model.train()


def build_network(design: DesignConfig | dict) -> Network:
    """A :class:`Network` from a design (dataclass or plain dict)."""
    if isinstance(design, dict):
        design = from_dict(DesignConfig, design, "design")
    if design.sample_rate < 1 or design.num_samples < 1 or design.num_classes < 2:
        raise ConfigError(f"sample_rate and num_samples must be positive and num_classes >= 2, got "
                          f"{design.sample_rate}, {design.num_samples}, {design.num_classes}")
    frontend, feature_shape = build_frontend(design)
    return Network(design, frontend, build_model(design, feature_shape), feature_shape)


def load_design(path: str | Path, overrides: list[str] = ()) -> DesignConfig:
    """A design from YAML (a design file, or a recipe whose ``design`` section is one), with overrides."""
    data = load_yaml(path)
    if "design" in data:
        data = data["design"]
    return from_dict(DesignConfig, apply_overrides(data, list(overrides)), "design")


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as filterbanks are not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def summary_rows(network: Network) -> list[dict]:
    """One row per front-end layer and per top-level model layer: name, type, output shape, parameters."""
    rows: list[dict] = []
    named = [(f"frontend.{name}", m) for name, m in network.frontend.named_children()]
    named += [(f"model.{name}", m) for name, m in network.model.named_children()]
    hooks = []
    for name, module in named:
        def record(module, inputs, output, name=name):
            out = output[0] if isinstance(output, tuple) else output
            rows.append({"layer": name, "type": type(module).__name__, "output": [-1, *out.shape[1:]],
                         "params": count_params(module)})
        hooks.append(module.register_forward_hook(record))
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            logits = network(torch.zeros(1, network.design.num_samples))
    finally:
        for hook in hooks:
            hook.remove()
        network.train(was_training)
    seen = {row["layer"] for row in rows}
    rows += [{"layer": f"model.{name}", "type": type(m).__name__, "output": None, "params": count_params(m)}
             for name, m in network.model.named_children() if f"model.{name}" not in seen]
    direct = sum(p.numel() for p in network.model.parameters(recurse=False))
    if direct:
        rows.append({"layer": "model (own)", "type": "Parameter", "output": None, "params": direct})
    rows.append({"layer": "logits", "type": "", "output": [-1, *logits.shape[1:]], "params": 0})
    return rows


def summary(network: Network) -> str:
    """A Keras-style table of layers, output shapes and parameter counts."""
    rows = summary_rows(network)
    lines = [f"{'layer':<34}{'type':<26}{'output shape':<24}{'params':>10}", "-" * 94]
    for row in rows:
        shape = "" if row["output"] is None else "(" + ", ".join(map(str, row["output"])) + ")"
        lines.append(f"{row['layer']:<34}{row['type']:<26}{shape:<24}{row['params']:>10,}")
    total, trainable = count_params(network), count_params(network, trainable_only=True)
    lines += ["-" * 94, f"total params: {total:,}   trainable: {trainable:,}   "
              f"input: ({network.design.num_samples},) samples at {network.design.sample_rate} Hz"]
    return "\n".join(lines)


def match_budget(design: DesignConfig, budget: int, key: str) -> tuple[DesignConfig, int]:
    """Scale the integer (or list of integers) model argument ``key`` so the parameter count is nearest ``budget``.

    For a fair comparison of families at equal size, e.g. ``match_budget(lstm, 100_000, "hidden")``.
    """
    if not 1 <= budget <= MAX_PARAMETERS:
        raise ConfigError(f"budget must be from 1 to {MAX_PARAMETERS:,} parameters, got {budget:,}")
    if key not in design.model:
        config_cls = MODELS[design.model["name"]][0]
        default = getattr(config_cls(), key, None)
        if default is None:
            raise ConfigError(f"model {design.model['name']!r} has no argument {key!r} to scale")
        base = default
    else:
        base = design.model[key]
    if isinstance(base, int) and not isinstance(base, bool):
        scaled = lambda s: max(1, round(base * s))  # noqa: E731
    elif isinstance(base, (list, tuple)) and all(isinstance(v, int) for v in base):
        scaled = lambda s: [max(1, round(v * s)) for v in base]  # noqa: E731
    else:
        raise ConfigError(f"model.{key} must be an integer or a list of integers to scale, got {base!r}")
    tried: dict[str, tuple[int, DesignConfig] | None] = {}

    def params_at(exponent: float) -> tuple[int, DesignConfig] | None:
        value = scaled(2.0 ** exponent)
        if repr(value) not in tried:
            candidate = DesignConfig(**{**to_dict(design), "model": {**design.model, key: value}})
            try:
                tried[repr(value)] = (count_params(build_network(candidate)), candidate)
            except ConfigError:
                tried[repr(value)] = None
        return tried[repr(value)]

    # Walk the scale in quarter octaves from 1 until the count crosses the budget (it grows with the
    # scale), then scan finely around the nearest point.
    direction = 1 if (params_at(0.0) or (0, None))[0] < budget else -1
    walked = [0.0]
    while abs(walked[-1]) < 6:
        walked.append(walked[-1] + direction / 4)
        hit = params_at(walked[-1])
        if hit and (hit[0] >= budget if direction > 0 else hit[0] <= budget):
            break
    valid = [e for e in walked if params_at(e)]
    if not valid:
        raise ConfigError(f"no value of model.{key} gives a valid network")
    fine_centre = min(valid, key=lambda e: abs(params_at(e)[0] - budget))
    for step in range(-20, 21):
        params_at(fine_centre + step / 80)
    params, best = min((hit for hit in tried.values() if hit), key=lambda hit: abs(hit[0] - budget))
    return best, params
