"""``model.pt``: design, label names and weights in plain torch types, loadable with ``weights_only=True``.

Loading needs only torch and sonogram's design code, never the training framework.

Example:
    >>> import tempfile, pathlib
    >>> from sonogram.network.design import DesignConfig, build_network
    >>> net = build_network(DesignConfig(sample_rate=8000, num_samples=800, num_classes=2,
    ...                                  frontend=[{"name": "waveform"}], model={"name": "mlp", "hidden": [4]}))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
    >>> save_checkpoint(path, net, ["no", "yes"])
    >>> loaded, checkpoint = load_checkpoint(path)
    >>> checkpoint["labels"]
    ['no', 'yes']
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from sonogram import __version__
from sonogram.atomic import write_bytes
from sonogram.config import to_dict
from sonogram.network.design import Network, build_network
from sonogram.errors import ConfigError

FORMAT = "sonogram.model/1"


def save_checkpoint(path: str | Path, network: Network, labels: list[str], **extra) -> None:
    """Save ``{"format", "version", "design", "labels", "state_dict", **extra}`` atomically."""
    if len(labels) != network.design.num_classes:
        raise ConfigError(f"{len(labels)} labels for a network with {network.design.num_classes} outputs")
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    buffer = io.BytesIO()  # serialised first, so a full disk is an OSError with the size it needed
    torch.save({"format": FORMAT, "version": __version__, "design": to_dict(network.design),
                "labels": list(labels), "state_dict": state, **extra}, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Network, dict]:
    """Rebuild the network from ``model.pt`` in eval mode; returns it and the checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise ConfigError(f"{path}: not a readable sonogram model ({type(exc).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a sonogram model file (expected format {FORMAT!r})")
    missing = [key for key in ("design", "labels", "state_dict") if not isinstance(checkpoint.get(key), (dict, list))]
    if missing:
        raise ConfigError(f"{path}: damaged model file (no {', '.join(missing)})")
    design = dict(checkpoint["design"])
    if "align" in checkpoint and "align" not in design:  # sonogram 0.1 kept the alignment beside the design
        design["align"] = checkpoint["align"]
    try:
        network = build_network(design)
    except ConfigError as exc:
        raise ConfigError(f"{path}: its design is not valid here: {exc}") from None
    if len(checkpoint["labels"]) != network.design.num_classes:
        raise ConfigError(f"{path}: damaged model file ({len(checkpoint['labels'])} labels for "
                          f"{network.design.num_classes} outputs)")
    try:
        network.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{path}: damaged model file (weights do not fit its design: {first})") from None
    return network.to(map_location).eval(), checkpoint
