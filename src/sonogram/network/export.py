"""Export a whole network, front-end included, to ONNX or TorchScript: waveform in, logits out.

Both formats take ``waveform (batch, num_samples)`` float32 and return ``logits (batch, classes)``
with a dynamic batch axis. Before export the network is copied with
:func:`~sonogram.features.dft.export_ready`: complex ``torch.stft`` becomes a strided convolution
with the windowed DFT basis, which every onnxruntime execution provider runs (the opset-17 ``STFT``
operator is smaller but missing or partial in some runtimes; ``benchmarks/export.py`` measures both).

The labels, sample rate, input length, alignment, design, model id and sonogram version go into the
ONNX metadata (and a TorchScript extra file); the model card goes beside the file.

Example:
    >>> import tempfile, pathlib
    >>> from sonogram.network.design import DesignConfig, build_network
    >>> net = build_network(DesignConfig(sample_rate=8000, num_samples=800, num_classes=2,
    ...                                  frontend=[{"name": "spectrogram", "n_fft": 64}], model={"name": "mlp"}))
    >>> path = export_onnx(net, pathlib.Path(tempfile.mkdtemp()) / "m.onnx", {"labels": '["a", "b"]'})
    >>> path.suffix
    '.onnx'
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import torch

from sonogram.atomic import atomic_write
from sonogram.errors import ConfigError
from sonogram.features.dft import export_ready
from sonogram.network import model_card
from sonogram.network.design import Network

log = logging.getLogger(__name__)

OPSET = 18
INPUT, OUTPUT = "waveform", "logits"
FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
TORCHSCRIPT_EXTRA = "sonogram.json"  # the metadata inside a TorchScript archive


def metadata(card: dict) -> dict[str, str]:
    """The string key/value pairs stored in the exported file: what a runtime needs to feed the model."""
    core = {k: v for k, v in card.items() if k != "exports"}
    return {"labels": json.dumps(card["labels"]), "sample_rate": str(card["sample_rate"]),
            "num_samples": str(card["num_samples"]), "align": card["align"], "design": json.dumps(card["design"]),
            "model_id": card["model_id"], "sonogram_version": card["sonogram_version"],
            "model_card": json.dumps(core)}


def _example(network: Network, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    device = next(network.parameters()).device
    return torch.randn(batch, network.design.num_samples, generator=generator).to(device)


def export_onnx(network: Network, path: str | Path, meta: dict[str, str], opset: int = OPSET) -> Path:
    """Write ``network`` (made export-ready here) as ONNX with a dynamic batch axis and ``meta`` as metadata."""
    import onnx

    path = Path(path)
    ready = export_ready(network)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices are not the user's concern
        program = torch.onnx.export(ready, (_example(network),), None, dynamo=True, opset_version=opset, verbose=False,
                                    input_names=[INPUT], output_names=[OUTPUT],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
    proto = program.model_proto
    onnx.helper.set_model_props(proto, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    log.info("wrote %s (opset %d)", path, opset)
    return path


def export_torchscript(network: Network, path: str | Path, meta: dict[str, str]) -> Path:
    """Write ``network`` (made export-ready here) as a traced TorchScript archive with ``meta`` as an extra file.

    Tracing, not scripting: the front-end and models use Python control flow that only depends on
    shapes fixed by the design, and the batch axis stays dynamic in the traced graph.
    """
    path = Path(path)
    ready = export_ready(network)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # check_trace re-traces and compares graphs, which differ in module name mangling alone for the
        # Transformer; parity with eager torch is tested instead.
        traced = torch.jit.trace(ready, _example(network), check_trace=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            torch.jit.save(traced, f, _extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
    log.info("wrote %s (TorchScript)", path)
    return path


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> tuple[Path, Path]:
    """Export a run's best network; returns the model file and its card (``model-card.json`` beside it).

    ``out`` defaults to ``RUN/export/model.onnx`` (or ``model.torchscript.pt``).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    run = model_card.read_run(run_dir)
    folder = out is not None and (str(out).endswith(("/", os.sep)) or Path(out).is_dir())  # "deploy/" names a folder
    out = Path(out) if out is not None else Path(run_dir) / "export" / FORMATS[fmt]
    if folder:
        out = out / FORMATS[fmt]
    card = model_card.card_from_run(run)
    if fmt == "onnx":
        export_onnx(run.network, out, metadata(card))
        details = {"opset": OPSET, "stft": "conv1d-dft", "input": INPUT, "output": OUTPUT}
    else:
        export_torchscript(run.network, out, metadata(card))
        details = {"stft": "conv1d-dft", "torch_version": torch.__version__}
    card = model_card.add_export(card, fmt, out.name, model_card.sha256(out), **details)
    return out, model_card.write_card(out, card)
