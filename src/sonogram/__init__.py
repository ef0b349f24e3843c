"""sonogram: classify spoken words (digits, keywords, commands) from audio.

The public API (loaded on first use, so ``import sonogram`` stays light)::

    model = sonogram.load("runs/fsdd")                       # a finished run
    model.predict(waveforms, sample_rate=44100)              # arrays of any length and rate, batched
    list(model.predict_files(["a.wav", "folder/"]))          # files and folders
    result = sonogram.train("fsdd_fast", out="runs/demo", progress=print)   # quiet, with a callback
    net = sonogram.build_network(sonogram.load_design("recipes/designs/cnn_logmel.yaml"))
    mel = sonogram.LogMelSpectrogram(sample_rate=16000, n_mels=40)
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "load": "sonogram.api", "train": "sonogram.api", "cv": "sonogram.api", "torch_tensor": "sonogram.api",
    "Predictor": "sonogram.inference.predictor", "Prediction": "sonogram.inference.predictor",
    "Recipe": "sonogram.recipe", "load_recipe": "sonogram.recipe",
    "DesignConfig": "sonogram.network.design", "build_network": "sonogram.network.design",
    "load_design": "sonogram.network.design", "count_params": "sonogram.network.design",
    "describe_design": "sonogram.service.designs",
    "Run": "sonogram.runs", "list_runs": "sonogram.runs",
    **{name: "sonogram.features.layers" for name in (
        "Waveform", "Decimate", "FFT", "Spectrogram", "AmplitudeToDB", "MelScale", "MelSpectrogram",
        "LogMelSpectrogram", "MFCC", "LearnableSTFT", "Normalize", "SpecAugment")},
    **{name: "sonogram.errors" for name in (
        "SonogramError", "AudioError", "DatasetError", "ConfigError", "RunError")},
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sonogram' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
