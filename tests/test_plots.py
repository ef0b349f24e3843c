"""Figures, the HTML run report and the learn-stft experiment, rendered from a tiny real run."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from sonogram.reports import plots
from sonogram.runs import Run
from sonogram.service import results
from sonogram.cli import main
from sonogram.data.synth import tone_clip, write_fsdd
from sonogram.errors import ConfigError
from sonogram.recipe import recipe_from_dict
from sonogram.service.training import train

RECIPE = {
    "name": "tiny-stft",
    "dataset": {"name": "fsdd", "split": "official"},
    "design": {"sample_rate": 8000, "num_samples": 3200,
               "frontend": [{"name": "learnable_stft", "n_fft": 128, "hop_length": 64},
                            {"name": "amplitude_to_db"}, {"name": "normalize", "per": "clip"}],
               "model": {"name": "small_cnn", "channels": [8, 16], "dense": 32, "dropout": [0.0, 0.0]}},
    "optim": {"lr": 0.01},
    "train": {"epochs": 3, "batch_size": 16, "progress": False, "accelerator": "cpu"},
}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two finished runs on a synthetic FSDD: a LearnableSTFT CNN and a plain MLP."""
    root = tmp_path_factory.mktemp("data")
    write_fsdd(root, speakers=("ann", "bob", "cy"), takes=10, seconds=0.4)
    base = tmp_path_factory.mktemp("runs")
    recipe = json.loads(json.dumps(RECIPE))
    recipe["dataset"]["data_root"] = str(root)
    train(recipe_from_dict(recipe), base / "stft")
    recipe["design"]["frontend"] = [{"name": "fft", "n_fft": 1024}, {"name": "amplitude_to_db"},
                                    {"name": "normalize", "per": "clip"}]
    recipe["design"]["model"] = {"name": "mlp", "hidden": [16]}
    train(recipe_from_dict(recipe), base / "mlp")
    return base / "stft", base / "mlp"


@pytest.fixture
def tone_file(tmp_path) -> Path:
    path = tmp_path / "tone.wav"
    clip = np.concatenate([tone_clip(2, 0, 8000, 0.4, np.random.default_rng(0)), np.zeros(1600, np.float32),
                           tone_clip(7, 0, 8000, 0.4, np.random.default_rng(1))])
    soundfile.write(path, clip, 8000)
    return path


def assert_png(path: Path, min_width: int = 300) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= min_width


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_signal_figures_have_their_panels_and_units():
    x = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    for kind in ("linear", "log", "mel"):
        fig = plots.plot_spectrogram(x, 8000, kind, n_fft=256)
        main_ax = fig.axes[0]
        assert (main_ax.get_xlabel(), main_ax.get_ylabel()) == ("time (s)", "frequency (Hz)")
        assert fig.axes[1].get_ylabel() == "dB"  # the colour bar
        assert main_ax.get_yscale() == ("log" if kind == "log" else "linear")
    fb = plots.plot_filterbank(8000, 256, 20)
    assert len(fb.axes[0].lines) == 20 and fb.axes[0].get_xlabel() == "frequency (Hz)"
    fvm = plots.plot_fourier_vs_mel(x, 8000, n_fft=256, n_mels=20)
    assert titles(fvm)[0].startswith("Fourier: 129 bins") and titles(fvm)[1].startswith("mel: 20")


def test_mel_spectrogram_peaks_at_the_tone():
    x = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)
    db = plots.spectrogram_db(x, 8000, "linear", n_fft=256)
    assert abs(db.mean(axis=1).argmax() * 8000 / 256 - 1000) <= 8000 / 256
    assert db.max() == 0.0 and db.min() >= -80.0


@pytest.mark.slow
def test_run_figures(tiny_runs):
    stft_run, mlp_run = tiny_runs
    curves = plots.plot_curves(results.curves([stft_run, mlp_run]))
    assert titles(curves) == ["loss", "accuracy", "validation macro-F1", "learning rate"]
    assert len(curves.axes[2].lines) == 2  # one line per run
    confusion = plots.plot_confusion(Run(stft_run).metrics())
    assert titles(confusion)[0].startswith("train counts") and titles(confusion)[-1].startswith("test row-normalised")
    assert len(confusion.axes) == 6
    name, kernels = plots.kernel_weights(plots_network(stft_run))
    assert "LearnableSTFT" in name and kernels.shape == (130, 128)
    with pytest.raises(ConfigError, match="no LearnableSTFT or convolution"):
        plots.kernel_weights(plots_network(mlp_run))


def plots_network(run_dir):
    return Run(run_dir).model()[0]


@pytest.mark.slow
def test_frames_work_for_any_model(tiny_runs, tone_file):
    from sonogram.audio import load
    from sonogram.inference.predictor import Predictor

    waveform, _ = load(tone_file, 8000)
    panels = []
    for run in tiny_runs:
        times, probabilities = Predictor.open(run).frame_probabilities(waveform, hop_seconds=0.05)
        assert probabilities.shape == (len(times), 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
        assert times[0] == 0 and times[-1] <= len(waveform) / 8000
        panels.append((run.name, times, probabilities, [str(d) for d in range(10)], []))
    fig = plots.plot_frames(panels, waveform, 8000, "two digits")
    assert len(fig.axes) == 3 and fig.axes[-1].get_xlabel() == "time (s)"
    # the file says 2 (0-0.4 s) then 7 (0.6-1.0 s): windows centred on each word see exactly a training-like clip
    for name, times, probabilities, _, _ in panels:
        at = lambda t: probabilities[np.abs(times - t).argmin()].argmax()  # noqa: E731
        assert (at(0.2), at(0.8)) == (2, 7), name


@pytest.mark.slow
@pytest.mark.parametrize("args, out", [
    (["waveform", "{tone}"], "w.png"), (["spectrogram", "{tone}", "--kind", "mel"], "s.svg"),
    (["spectrogram", "{tone}", "--kind", "log", "--n-fft", "256"], "s.png"), (["filterbank"], "f.png"),
    (["fourier-vs-mel", "{tone}"], "fm.png"), (["curves", "{stft}", "{mlp}"], "c.png"),
    (["confusion", "{stft}"], "cm.png"), (["frames", "{stft}", "{mlp}", "{tone}"], "fr.png"),
    (["weights", "{stft}"], "k.png"), (["weights", "{mlp}"], None),
    (["lr-find", "{stft}/config.yaml", "--steps", "20"], "lr.png"),  # a run's config.yaml is a full recipe
])
def test_plot_commands(args, out, tiny_runs, tone_file, tmp_path, capsys):
    names = {"tone": tone_file, "stft": tiny_runs[0], "mlp": tiny_runs[1]}
    argv = ["plot"] + [a.format(**names) for a in args]
    if out is None:  # an MLP has no kernels to show: a clear error
        assert main(argv + ["--out", str(tmp_path / "x.png")]) == 2
        assert "no LearnableSTFT or convolution" in capsys.readouterr().err
        return
    path = tmp_path / out
    assert main(argv + ["--out", str(path)]) == 0
    if path.suffix == ".svg":
        assert ET.parse(path).getroot().tag.endswith("svg")
    else:
        assert_png(path)


def test_plot_errors(tone_file, tmp_path, capsys):
    assert main(["plot", "waveform", str(tone_file), "--out", str(tmp_path / "w.jpg")]) == 2
    assert "plots are saved as .png or .svg" in capsys.readouterr().err
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    assert main(["plot", "spectrogram", str(bad), "--out", str(tmp_path / "s.png")]) == 2
    assert "bad.wav" in capsys.readouterr().err


@pytest.mark.slow
def test_run_folder_has_plots_and_a_self_contained_report(tiny_runs):
    run = tiny_runs[0]
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and 'src="http' not in page
    for text in ("Classification report (test)", "Confusion matrices", "Per-frame predictions", "learnable_stft",
                 "precision"):
        assert text in page
    for name in ("curves.png", "confusion.png"):
        assert_png(run / "plots" / name)
    assert list((run / "plots").glob("frames_*.png"))


@pytest.mark.slow
def test_report_command_compares_runs(tiny_runs, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert main(["report", str(tiny_runs[0]), str(tiny_runs[1]), "--out", str(out)]) == 0
    page = out.read_text()
    assert "Comparison" in page and tiny_runs[0].name in page and tiny_runs[1].name in page
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder (no config.yaml)" in capsys.readouterr().err


def test_learn_stft_targets_are_the_dft(tmp_path):
    """The regression target is linear in the input, and least squares recovers the exact DFT matrix."""
    from sonogram.experiments.learn_stft import stacked

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (600, 256))
    y = stacked(np.fft.fft(x, axis=1)[:, :128] / 128).astype(np.float64)
    weights = np.linalg.lstsq(x, y, rcond=None)[0].T  # (256 outputs, 256 samples)
    n = np.arange(256)
    k = np.arange(128)[:, None]
    assert np.allclose(weights[:128], np.cos(2 * np.pi * k * n / 256) / 128, atol=1e-6)
    assert np.allclose(weights[128:], -np.sin(2 * np.pi * k * n / 256) / 128, atol=1e-6)


@pytest.mark.slow
def test_learn_stft_experiment_runs_and_learns(tmp_path, capsys):
    out = tmp_path / "learn"
    assert main(["experiments", "learn-stft", "--out", str(out), "--clips", "256", "--epochs", "3",
                 "--batch-size", "32"]) == 0
    results = json.loads((out / "results.json").read_text())
    stft = [h["mse"] for h in results["stft"]["history"]]
    dft = [h["mse"] for h in results["dft"]["history"]]
    assert results["stft"]["outputs"] == 2 * 33 * 129 == 8514 and results["dft"]["weights"] == 65536
    assert stft[-1] < stft[0] / 3 and dft[-1] < dft[0] / 3
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    for name in ("losses.png", "four_tones.png", "stft_weights.png", "dft_weights.png"):
        assert_png(out / name)
    assert "closed form (least squares) MSE" in capsys.readouterr().out
    assert torch.tensor(stft).isfinite().all()
