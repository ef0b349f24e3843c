"""The front-end of a design: its layers by name, and the builder that wires and checks them.

Each entry of ``design.frontend`` is ``{"name": <one of FRONTENDS>, **arguments}``. The builder checks
every argument against the layer's type hints, derives the ones that follow from the input's shape, and
pushes a clip through each layer so a bad wiring is one named error. ``fuse`` is the one node that holds
other nodes: branches that each read the same waveform, whose outputs are joined side by side (two
pretrained embeddings, for one head that reads both).

Example:
    >>> from sonogram.network.design import DesignConfig
    >>> design = DesignConfig(sample_rate=16000, num_samples=16000, frontend=[
    ...     {"name": "fuse", "branches": [[{"name": "log_mel", "n_mels": 40}], [{"name": "mfcc", "n_mfcc": 13}]]}])
    >>> build_frontend(design)[1]                 # 40 x 81 mel and 13 x 81 cepstral values in one column
    (1, 4293, 1)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sonogram.config import check_range, check_type
from sonogram.errors import ConfigError
from sonogram.features import layers as fe
from sonogram.features.base import FrontendLayer
from sonogram.features.logfbank import LogFilterbank
from sonogram.models.pretrained import PretrainedEmbedding

if TYPE_CHECKING:
    from sonogram.network.design import DesignConfig


class Fuse(FrontendLayer):
    """Branches of front-end layers side by side: ``(batch, samples) -> (batch, 1, sum of C*F*T, 1)``.

    Every branch reads the same waveform and ends in features; each branch's ``(C, F, T)`` is flattened
    and the branches are stacked along the feature axis, so a ``normalize`` (``mode: global``) after the
    node standardises every value on its own and any head reads them all.

    A design spells it ``{name: fuse, branches: [[entry, ...], [entry, ...]]}``; :func:`build_frontend`
    builds each branch's layers and hands them over.
    """

    def __init__(self, branches: list[nn.Sequential]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    @property
    def needs_whole_clip(self) -> bool:
        return any(getattr(layer, "needs_whole_clip", False) for branch in self.branches for layer in branch)

    @property
    def cacheable(self) -> bool:
        return all(getattr(layer, "cacheable", False) for branch in self.branches for layer in branch)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, 1, features, 1)``."""
        joined = torch.cat([branch(waveform).flatten(1) for branch in self.branches], dim=1)
        return joined[:, None, :, None]


# Front-end layer names as designs spell them. Each layer declares what it takes and gives
# (see sonogram.features.base.FrontendLayer); the builder asks it rather than testing its class.
FRONTENDS: dict[str, type[FrontendLayer]] = {
    "waveform": fe.Waveform,
    "decimate": fe.Decimate,
    "crop": fe.Crop,
    "fft": fe.FFT,
    "spectrogram": fe.Spectrogram,
    "mel_spectrogram": fe.MelSpectrogram,
    "log_mel": fe.LogMelSpectrogram,
    "mfcc": fe.MFCC,
    "learnable_stft": fe.LearnableSTFT,
    "amplitude_to_db": fe.AmplitudeToDB,
    "normalize": fe.Normalize,
    "spec_augment": fe.SpecAugment,
    "freq_warp": fe.FrequencyWarp,
    "log_fbank": LogFilterbank,
    "pretrained": PretrainedEmbedding,
    "fuse": Fuse,
}

MAX_LAYER_INTEGER = 2**20  # above any sample rate or FFT size; a window of 2**31 samples alone is 8 GB
MAX_BRANCHES = 8


def build_frontend(design: DesignConfig) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """Build the front-end layers and propagate a clip through them; returns the layers and ``(C, F, T)``."""
    if not design.frontend:
        raise ConfigError("frontend is empty; start it with a layer that makes features, e.g. waveform or log_mel")
    if not isinstance(design.frontend, list):
        raise ConfigError(f"frontend must be a list of layers, got {design.frontend!r}")
    layers, x = _build_chain(design.frontend, torch.zeros(1, design.num_samples), float(design.sample_rate),
                             "frontend")
    frontend = nn.Sequential(layers)
    frontend.train()
    return frontend, tuple(x.shape[1:])


def _build_chain(entries: list, x: torch.Tensor, rate: float, where: str) -> tuple[OrderedDict, torch.Tensor]:
    """Layers for ``entries`` fed ``x`` at ``rate`` Hz; they must end in features ``(batch, C, F, T)``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, entry in enumerate(entries):
        layer = _build_layer(entry, x, rate, f"{where}.{i}")
        try:
            with torch.no_grad():
                x = layer(x)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}.{i} ({entry['name']}) cannot take its input {tuple(x.shape[1:])}: "
                              f"{str(exc).splitlines()[0]}") from None
        rate = layer.output_rate(rate)
        layers[f"{i}_{entry['name']}"] = layer
    if x.ndim != 4:
        raise ConfigError(f"{where} ends in a waveform {tuple(x.shape[1:])}; end it with a layer that makes "
                          f"features (waveform, fft, spectrogram, log_mel, mfcc, ...)")
    return layers, x


def _build_layer(entry, x: torch.Tensor, rate: float, where: str) -> nn.Module:
    """One front-end layer from its design entry, for input ``x`` at ``rate`` Hz, in eval mode."""
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: expected a mapping with a 'name' (one of {', '.join(FRONTENDS)}), got {entry!r}")
    args = {k: v for k, v in entry.items() if k != "name"}
    name = entry["name"]
    if name not in FRONTENDS:
        raise ConfigError(f"{where}: unknown front-end {name!r}; valid: {', '.join(FRONTENDS)}")
    cls = FRONTENDS[name]
    is_wave = x.ndim == 2
    if (cls.takes == "waveform") != is_wave:
        got = "a waveform" if is_wave else f"features {tuple(x.shape[1:])}"
        want = "a waveform" if cls.takes == "waveform" else "features (put a spectral layer before it)"
        raise ConfigError(f"{where} ({name}) takes {want} but receives {got}")
    valid = cls.argument_names()
    for key in args:
        if key not in valid:
            raise ConfigError(f"unknown key {f'{where}.{key}'!r} for {name}; valid keys: {', '.join(valid)}")
    if cls is Fuse:
        return _build_fuse(args.get("branches"), x, rate, where)
    types = cls.argument_types()
    args = {key: _layer_argument(value, types.get(key, Any), f"{where}.{key}") for key, value in args.items()}
    if "sample_rate" in valid and "sample_rate" not in args:
        args["sample_rate"] = int(rate)
    if not is_wave:
        args = {**cls.shape_arguments(tuple(x.shape[1:])), **args}
    try:
        layer = cls(**args)
    except ConfigError as exc:
        raise ConfigError(f"{where} ({name}): {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{where} ({name}): invalid arguments: {str(exc).splitlines()[0]}") from None
    return layer.eval()


def _build_fuse(branches, x: torch.Tensor, rate: float, where: str) -> Fuse:
    if not isinstance(branches, list) or not 2 <= len(branches) <= MAX_BRANCHES:
        raise ConfigError(f"{where}.branches must be a list of 2 to {MAX_BRANCHES} branches, each a list of "
                          f"front-end layers, got {branches!r}")
    chains = []
    for b, branch in enumerate(branches):
        if not isinstance(branch, list) or not branch:
            raise ConfigError(f"{where}.branches.{b} must be a non-empty list of front-end layers, got {branch!r}")
        if any(isinstance(entry, dict) and entry.get("name") == "fuse" for entry in branch):
            raise ConfigError(f"{where}.branches.{b}: a fuse node cannot hold another fuse node")
        chains.append(nn.Sequential(_build_chain(branch, x, rate, f"{where}.branches.{b}")[0]))
    return Fuse(chains).eval()


def _layer_argument(value, hint, where: str):
    """A front-end argument checked against the layer's type hint; NaN, infinity and integers above
    ``MAX_LAYER_INTEGER`` are refused."""
    value = check_type(value, hint, where)
    check_range(value, {}, where)
    integers = [v for v in (value if isinstance(value, (list, tuple)) else [value])
                if isinstance(v, int) and not isinstance(v, bool)]
    if any(abs(v) > MAX_LAYER_INTEGER for v in integers):
        raise ConfigError(f"{where} must be at most {MAX_LAYER_INTEGER:,} in size, got {value}")
    return value
