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

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from sonogram.errors import ConfigError
from sonogram.features.base import FrontendLayer
from sonogram.features.logfbank import LogFilterbank
from sonogram.models.mswc_resnet import MswcResNet, load_onnx_weights

TRAINABLE = ("none", "last_block", "all")


@dataclass(frozen=True)
class PretrainedModel:
    """Where a pretrained embedding's weights come from, and what it was trained on.

    Attributes:
        package: import name of the installed package that ships the weights file.
        distribution: that package's name and version on the package registry.
        resource: the file's path inside that package.
        install: the command that installs the package.
        sample_rate: the rate the model was trained at (Hz).
        window: the clip length it was trained on (samples).
        size: embedding size.
        corpus, licence: for the README and the model card.
    """

    package: str
    distribution: str
    resource: str
    install: str
    sample_rate: int
    window: int
    size: int
    corpus: str
    licence: str


PRETRAINED = {
    "mswc-resnet50-arc": PretrainedModel(
        package="eff_word_net", distribution="efficientword-net 1.0.5", resource="models/resnet_50_arc/slim_93%_accuracy_72.7390%.onnx",
        install='pip install "sonogram[pretrained]" && pip install --no-deps "efficientword-net==1.0.5"',
        sample_rate=16000, window=24000, size=2048,
        corpus="Multilingual Spoken Words Corpus (MSWC, CC BY 4.0)",
        licence="Apache-2.0"),
}


def credits(frontend: list) -> list[dict]:
    """What the model card says of each pretrained node in a design's front-end: model, package, corpus, licence."""
    nodes = [entry for entry in frontend if isinstance(entry, dict) and entry.get("name") == "pretrained"]
    found = [(entry, PRETRAINED.get(entry.get("model", "mswc-resnet50-arc"))) for entry in nodes]
    return [{"model": entry.get("model", "mswc-resnet50-arc"), "trainable": entry.get("trainable", "none"),
             "package": spec.distribution, "corpus": spec.corpus, "licence": spec.licence}
            for entry, spec in found if spec is not None]


def weights_file(name: str) -> Path:
    """The installed weights file of pretrained model ``name``; one clear error when its package is missing."""
    model = PRETRAINED[name]
    spec = importlib.util.find_spec(model.package)  # finds the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = next((Path(folder) / model.resource for folder in folders if (Path(folder) / model.resource).is_file()),
                None)
    if path is None:
        raise ConfigError(f"the pretrained model {name!r} reads its weights from the {model.package!r} package, "
                          f"which is not installed here; install it with: {model.install}")
    return path


@functools.lru_cache(maxsize=2)
def _pretrained_state(name: str) -> dict[str, torch.Tensor]:
    """The weights of ``name`` as a state dict, parsed once per process (parsing the ONNX file takes seconds)."""
    path = weights_file(name)
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError(f"the pretrained model {name!r} is read with the onnx package, which is not installed "
                          f"here; install it with: {PRETRAINED[name].install}")
    net = MswcResNet()
    load_onnx_weights(net, path)
    return net.state_dict()


@functools.lru_cache(maxsize=2)
def _weights_digest(name: str) -> bytes:
    """The first 16 bytes of the SHA-256 of ``name``'s weights file."""
    digest = hashlib.sha256()
    with open(weights_file(name), "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()[:16]


class PretrainedEmbedding(FrontendLayer):
    """A pretrained speech embedding: ``(batch, samples) -> (batch, 1, size, 1)``.

    Attributes:
        model: one of :data:`PRETRAINED`.
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
        self.fbank = LogFilterbank(sample_rate=spec.sample_rate, win_length=400, hop_length=160, n_fft=512,
                                   n_filters=64, preemphasis=0.0)
        self.net = MswcResNet()
        self.net.load_state_dict(_pretrained_state(model))
        trained = {"none": [], "last_block": [self.net.last_stage], "all": [self.net]}[trainable]
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        for part in trained:
            for parameter in part.parameters():
                parameter.requires_grad_(True)
        for norm in (self.net.input_norm, self.net.output_norm):
            for parameter in norm.parameters():
                parameter.requires_grad_(False)
        self.register_buffer("weights_digest", torch.tensor(list(_weights_digest(model)), dtype=torch.uint8))
        self.register_state_dict_post_hook(_leave_out_the_packaged_weights)
        self.register_load_state_dict_pre_hook(_restore_the_packaged_weights)

    def packaged_names(self) -> list[str]:
        """Names (under ``net.``) of the tensors that are the package's own: every frozen parameter, and the
        statistics of the batch norms, which stay in eval mode."""
        frozen = [name for name, parameter in self.net.named_parameters() if not parameter.requires_grad]
        return [f"net.{name}" for name in frozen + [name for name, _ in self.net.named_buffers()]]

    @property
    def needs_whole_clip(self) -> bool:
        return True  # the filterbank is min-max scaled over the whole clip

    @property
    def cacheable(self) -> bool:
        return self.trainable == "none"

    def train(self, mode: bool = True) -> PretrainedEmbedding:
        super().train(mode)
        self.net.input_norm.eval()
        self.net.output_norm.eval()
        return self

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, 1, size, 1)``."""
        grad = torch.is_grad_enabled()
        with torch.set_grad_enabled(grad and self.trainable == "all"):
            x = self.net.trunk(self.fbank(waveform).transpose(-1, -2))    # the net reads (batch, 1, frames, filters)
        with torch.set_grad_enabled(grad and self.trainable != "none"):
            embedding = self.net.top(x)
        return embedding[:, None, :, None]


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
