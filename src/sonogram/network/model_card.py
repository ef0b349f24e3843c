"""``model-card.json``: the one owner of the model card's fields, written beside an exported model.

The card says what the exported file is (labels, sample rate, input length, alignment, design),
where it came from (dataset, split, seed, source run, sonogram and torch versions) and how well it
did (the run's measured metrics). Each export (ONNX, TorchScript) adds its own entry under
``exports`` with the file name and SHA-256, so one card describes every file exported from a run.

The run folder itself is read through :mod:`sonogram.runs`, its one owner (:func:`read_run`).

Example:
    >>> card = new_card(model_id="fsdd-1a2b3c4d", labels=["0", "1"], sample_rate=8000, num_samples=6000,
    ...                 align="center", design={"model": {"name": "cnn"}}, params=1000)
    >>> card = add_export(card, "onnx", "model.onnx", "ab" * 32, opset=18)
    >>> sorted(card["exports"]), card["sample_rate"]
    (['onnx'], 8000)
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from sonogram import __version__
from sonogram.atomic import atomic_write
from sonogram.errors import RunError
from sonogram.runs import MODEL, PROVENANCE, read_json

FORMAT = "sonogram.model-card/1"
FILE_NAME = "model-card.json"
# The metrics copied from metrics.json for each part: the headline numbers, not the confusion matrix.
_METRIC_KEYS = ("accuracy", "macro_f1", "loss", "clips")


@dataclass
class RunRecord:
    """What an export needs from a run folder: the network and its checkpoint, config, metrics, provenance."""

    path: Path
    network: object  # sonogram.network.design.Network (kept untyped so reading a card needs no torch)
    checkpoint: dict
    config: dict
    metrics: dict
    provenance: dict


def read_run(run_dir: str | Path) -> RunRecord:
    """What an export needs from a run folder, read through :class:`sonogram.runs.Run`."""
    from sonogram.runs import Run

    run = Run(run_dir)
    network, checkpoint = run.model()
    metrics = run.metrics() if run.state == "finished" else {}
    provenance = run.provenance() if (run.path / PROVENANCE).is_file() else {}
    return RunRecord(run.path, network, checkpoint, run.config(), metrics, provenance)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_card(model_id: str, labels: list[str], sample_rate: int, num_samples: int, align: str, design: dict,
             params: int, data: dict | None = None, metrics: dict | None = None, source: dict | None = None) -> dict:
    """A card without exports.

    ``data`` is ``{dataset, split, fold, options, seed}``; ``metrics`` is ``{part: {accuracy, macro_f1, ...}}``;
    ``pretrained`` credits each pretrained node's model, package, training corpus and licence.
    """
    from sonogram.models.pretrained import credits  # torch: a card is made only where a network is exported

    return {"format": FORMAT, "model_id": model_id, "labels": list(labels), "sample_rate": int(sample_rate),
            "num_samples": int(num_samples), "seconds": num_samples / sample_rate, "align": align,
            "design": design, "pretrained": credits(design.get("frontend", [])), "params": int(params),
            "data": data or {}, "metrics": metrics or {},
            "source": source or {}, "sonogram_version": __version__, "exports": {}}


def card_from_run(run: RunRecord) -> dict:
    """The card of a run folder's best checkpoint."""
    import torch

    from sonogram.config import to_dict
    from sonogram.network.design import count_params

    network, checkpoint = run.network, run.checkpoint
    dataset = run.config.get("dataset", {})
    data = {"dataset": dataset.get("name"), "split": dataset.get("split"), "fold": dataset.get("fold"),
            "options": dataset.get("options", {}), "seed": run.config.get("seed")}
    metrics = {part: {k: values[k] for k in _METRIC_KEYS if k in values}
               for part, values in run.metrics.items() if isinstance(values, dict) and "accuracy" in values}
    digest = sha256(run.path / MODEL)
    trained_with = {key: run.provenance[key] for key in ("sonogram", "torch", "python", "commit") if key in run.provenance}
    source = {"run": str(run.path.resolve()), "model_sha256": digest, "epoch": checkpoint.get("epoch"),
              "torch_version": torch.__version__, "trained_with": trained_with}
    return new_card(f"{run.path.resolve().name}-{digest[:8]}", checkpoint["labels"], network.design.sample_rate,
                    network.design.num_samples, network.design.align, to_dict(network.design),
                    count_params(network), data, metrics, source)


def add_export(card: dict, kind: str, file_name: str, digest: str, **details) -> dict:
    """``card`` with ``exports[kind] = {file, sha256, created, **details}`` (e.g. opset, stft path)."""
    entry = {"file": file_name, "sha256": digest, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             **details}
    return {**card, "exports": {**card.get("exports", {}), kind: entry}}


def card_path(model_path: str | Path) -> Path:
    """Where the card of an exported file lives: ``model-card.json`` in the same folder."""
    return Path(model_path).with_name(FILE_NAME)


def write_card(model_path: str | Path, card: dict) -> Path:
    """Write ``card`` beside ``model_path``, keeping the other exports of the same model already listed there."""
    path = card_path(model_path)
    if path.is_file():
        old = read_card(path)
        if old.get("model_id") == card["model_id"]:
            card = {**card, "exports": {**old.get("exports", {}), **card["exports"]}}
    with atomic_write(path, "w") as f:
        f.write(json.dumps(card, indent=2) + "\n")
    return path


def read_card(path: str | Path) -> dict:
    """A card written by :func:`write_card`; a missing or foreign file is a :class:`RunError`."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no model card")
    card = read_json(path)
    if card.get("format") != FORMAT:
        raise RunError(f"{path}: not a sonogram model card (expected format {FORMAT!r})")
    return card
