"""Learning the STFT: a bias-free linear layer trained to output scipy's complex STFT of its input.

The STFT is linear in the signal, so one ``nn.Linear(2048, 2 * 33 * 129, bias=False)`` can compute
it exactly; gradient descent on random audio finds those weights, and they turn out to be
Hann-windowed sinusoids. The same regression is solved in closed form (least squares) to show how
close training got, and repeated for a single-frame DFT (256 samples -> 128 complex bins, 65,536
weights). Everything lands in one folder: ``results.json``, figures and ``index.html``.
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import torch

from sonogram.errors import ConfigError, RunError
from sonogram.reports import plots
from sonogram.reports.report import STYLE, embed, table
from sonogram.runs import write_text

log = logging.getLogger(__name__)


@dataclass
class LearnSTFTConfig:
    """Signal and STFT of the reference experiment (hop 64 gives its 33 frames of 2048 samples)."""

    sample_rate: int = 8000
    samples: int = 2048
    n_fft: int = 256
    hop_length: int = 64
    clips: int = 8192
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1.0  # in units of 1 / E[|x|^2], see fit()
    seed: int = 0


def scipy_stft(x: np.ndarray, config: LearnSTFTConfig) -> np.ndarray:
    """``(clips, samples) -> (clips, frames, freqs)`` complex, ``scipy.signal.stft`` with a Hann window."""
    _, _, z = scipy.signal.stft(x, fs=config.sample_rate, window="hann", nperseg=config.n_fft,
                                noverlap=config.n_fft - config.hop_length, nfft=config.n_fft)
    return np.swapaxes(z, -1, -2)


def stacked(z: np.ndarray) -> np.ndarray:
    """Complex ``(clips, ...)`` to real ``(clips, 2 * ...)``: all real parts, then all imaginary parts."""
    flat = z.reshape(len(z), -1)
    return np.concatenate([flat.real, flat.imag], axis=1).astype(np.float32)


def fit(inputs: np.ndarray, targets: np.ndarray, config: LearnSTFTConfig) -> tuple[torch.nn.Linear, list[dict]]:
    """Train ``Linear(inputs -> targets, bias=False)`` from zero by SGD; returns the layer and per-epoch MSE.

    The loss is half the summed squared error of a batch and the step ``lr / E[|x|^2]``: with
    ``lr = 1`` each step projects the weights onto the batch's equations (normalised LMS, a block
    Kaczmarz step), which converges geometrically because the targets are exactly linear in the input.
    """
    generator = torch.Generator().manual_seed(config.seed)
    layer = torch.nn.Linear(inputs.shape[1], targets.shape[1], bias=False)
    torch.nn.init.zeros_(layer.weight)
    step = config.lr / float(np.mean(np.sum(inputs.astype(np.float64) ** 2, axis=1)))
    optimiser = torch.optim.SGD(layer.parameters(), lr=step)
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    history = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
            loss = 0.5 * (layer(x[batch]) - y[batch]).square().sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            mse = sum(torch.nn.functional.mse_loss(layer(xb), yb, reduction="sum").item()
                      for xb, yb in zip(x.split(1024), y.split(1024))) / y.numel()
        history.append({"epoch": epoch, "mse": mse, "seconds": round(time.perf_counter() - start, 2)})
        log.info("epoch %d: MSE %.3g", epoch, mse)
    return layer, history


def four_tones(config: LearnSTFTConfig) -> np.ndarray:
    """Unseen test audio: four consecutive tones (500, 1000, 2000, 3000 Hz), ``(samples,)``."""
    freqs = np.repeat([500.0, 1000.0, 2000.0, 3000.0], config.samples // 4)
    freqs = np.pad(freqs, (0, config.samples - len(freqs)), mode="edge")
    phase = 2 * np.pi * np.cumsum(freqs) / config.sample_rate  # continuous phase across the tone changes
    return (0.5 * np.sin(phase)).astype(np.float32)


MAX_CLIPS = 65_536  # each clip and its STFT target take about 40 kB


def run(out_dir: str | Path, config: LearnSTFTConfig = LearnSTFTConfig()) -> dict:
    """Run both regressions, write figures, ``results.json`` and ``index.html`` into ``out_dir``."""
    if not (64 <= config.clips <= MAX_CLIPS and config.epochs >= 1 and config.batch_size >= 1 and config.seed >= 0):
        raise ConfigError(f"need {MAX_CLIPS} >= clips >= 64, epochs >= 1, batch_size >= 1 and seed >= 0, got "
                          f"clips={config.clips}, epochs={config.epochs}, batch_size={config.batch_size}, "
                          f"seed={config.seed}")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the folder {out_dir}: {exc.strerror or exc}") from None
    rng = np.random.default_rng(config.seed)
    audio = rng.uniform(-1, 1, (config.clips, config.samples)).astype(np.float32)
    z = scipy_stft(audio, config)  # (clips, frames, freqs)
    frames, freqs = z.shape[1:]
    targets = stacked(z)
    layer, history = fit(audio, targets, config)
    learned = layer.weight.detach().numpy()  # (2 * frames * freqs, samples)
    exact = np.linalg.lstsq(audio.astype(np.float64), targets.astype(np.float64), rcond=None)[0].T
    closed_form_loss = float(np.mean((audio @ exact.T - targets) ** 2))

    tones = four_tones(config)
    reference = np.abs(scipy_stft(tones[None], config)[0]).T  # (freqs, frames)
    with torch.no_grad():
        out = layer(torch.from_numpy(tones[None]))[0].numpy()
    half = frames * freqs
    estimate = np.abs(out[:half] + 1j * out[half:]).reshape(frames, freqs).T
    tone_error = float(np.abs(estimate - reference).max() / reference.max())

    dft_inputs = rng.uniform(-1, 1, (config.clips, 2 * 128)).astype(np.float32)
    dft_targets = stacked(np.fft.fft(dft_inputs, axis=1)[:, :128] / 128)
    dft_layer, dft_history = fit(dft_inputs, dft_targets, config)
    dft_weights = dft_layer.weight.detach().numpy()  # (256, 256): rows 0-127 real, 128-255 imaginary
    dft_exact = np.linalg.lstsq(dft_inputs.astype(np.float64), dft_targets.astype(np.float64), rcond=None)[0].T

    results = {
        "config": asdict(config),
        "stft": {"outputs": int(targets.shape[1]), "frames": int(frames), "freqs": int(freqs),
                 "weights": int(learned.size), "history": history, "closed_form_loss": closed_form_loss,
                 "weights_max_abs_error_vs_closed_form": float(np.abs(learned - exact).max()),
                 "weights_relative_error_vs_closed_form": float(np.linalg.norm(learned - exact) / np.linalg.norm(exact)),
                 "four_tones_max_error_relative_to_peak": tone_error},
        "dft": {"weights": int(dft_weights.size), "history": dft_history,
                "closed_form_loss": float(np.mean((dft_inputs @ dft_exact.T - dft_targets) ** 2)),
                "weights_relative_error_vs_closed_form":
                    float(np.linalg.norm(dft_weights - dft_exact) / np.linalg.norm(dft_exact))},
    }
    figures = {
        "losses.png": _loss_figure(history, dft_history),
        "four_tones.png": _tones_figure(reference, estimate, config),
        "stft_weights.png": _weight_slices(learned, frames, freqs, config),
        "dft_weights.png": plots.plot_weights("learned 128-bin DFT (rows 0-127 real, 128-255 imaginary)",
                                              dft_weights, traces=4),
    }
    images = {name: embed(fig, out_dir / name) for name, fig in figures.items()}
    write_text(out_dir / "results.json", json.dumps(results, indent=2) + "\n")
    write_text(out_dir / "index.html", _page(results, images))
    return results


def _loss_figure(history: list[dict], dft_history: list[dict]):
    fig, ax = plots.plt.subplots(figsize=(7, 3.5))
    ax.semilogy([h["epoch"] for h in history], [h["mse"] for h in history], "o-",
                label="STFT: 2048 -> 8514")
    ax.semilogy([h["epoch"] for h in dft_history], [h["mse"] for h in dft_history], "s-",
                label="DFT: 256 -> 256")
    ax.set(xlabel="epoch", ylabel="MSE (log)", title="learning the transform")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def _tones_figure(reference: np.ndarray, estimate: np.ndarray, config: LearnSTFTConfig):
    fig, axes = plots.plt.subplots(2, 2, figsize=(11, 6), sharex=True, sharey=True)
    extent = (0, config.samples / config.sample_rate, 0, config.sample_rate / 2)
    for column, (name, magnitude) in enumerate((("scipy.signal.stft", reference), ("learned linear layer", estimate))):
        for row, (scale, data) in enumerate((("linear", magnitude),
                                             ("log", 20 * np.log10(np.maximum(magnitude, 1e-6))))):
            image = axes[row, column].imshow(data, origin="lower", aspect="auto", extent=extent, cmap="magma")
            fig.colorbar(image, ax=axes[row, column])
            axes[row, column].set(title=f"{name} ({scale}{' dB' if scale == 'log' else ''})",
                                  xlabel="time (s)" if row else "", ylabel="frequency (Hz)")
    fig.suptitle("unseen audio: four tones (500, 1000, 2000, 3000 Hz)")
    fig.tight_layout()
    return fig


def _weight_slices(weights: np.ndarray, frames: int, freqs: int, config: LearnSTFTConfig):
    """Rows of the learned map for a middle frame: each is a Hann-windowed sinusoid at its bin's frequency."""
    frame = frames // 2
    real = weights[: frames * freqs].reshape(frames, freqs, -1)[frame]  # (freqs, samples)
    imag = weights[frames * freqs:].reshape(frames, freqs, -1)[frame]
    start = frame * config.hop_length - config.n_fft // 2
    window = slice(max(0, start - 32), min(config.samples, start + config.n_fft + 32))
    fig, axes = plots.plt.subplots(1, 3, figsize=(15, 3.8))
    limit = np.abs(real).max()
    axes[0].imshow(real[:, window], aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit, origin="lower",
                   extent=(window.start, window.stop, 0, freqs))
    axes[0].set(xlabel="input sample", ylabel="frequency bin", title=f"real weights of frame {frame}")
    for k in (4, 16, 40):
        axes[1].plot(np.arange(window.start, window.stop), real[k, window], lw=0.8, label=f"bin {k} real")
    axes[1].set(xlabel="input sample", title="windowed cosines")
    axes[1].legend(fontsize=7)
    axes[2].plot(np.arange(window.start, window.stop), real[8, window], label="bin 8 real")
    axes[2].plot(np.arange(window.start, window.stop), imag[8, window], label="bin 8 imaginary")
    axes[2].set(xlabel="input sample", title="real vs imaginary: 90 degrees apart")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _page(results: dict, images: dict[str, str]) -> str:
    stft, dft = results["stft"], results["dft"]
    rows = [[h["epoch"], f"{h['mse']:.3g}", f"{d['mse']:.3g}"]
            for h, d in zip(stft["history"], dft["history"])]
    summary = table(["", "STFT (2048 -> 8514)", "DFT (256 -> 256)"], [
        ["weights", f"{stft['weights']:,}", f"{dft['weights']:,}"],
        ["closed-form (least squares) MSE", f"{stft['closed_form_loss']:.3g}", f"{dft['closed_form_loss']:.3g}"],
        ["learned vs closed-form weights (relative L2)", f"{stft['weights_relative_error_vs_closed_form']:.3g}",
         f"{dft['weights_relative_error_vs_closed_form']:.3g}"],
    ])
    body = [
        "<h1>Learning the STFT with one linear layer</h1>",
        f"<p>{results['config']['clips']} clips of uniform random audio, {results['config']['samples']} samples at "
        f"{results['config']['sample_rate']} Hz; target: scipy.signal.stft (Hann {results['config']['n_fft']}, hop "
        f"{results['config']['hop_length']}) = {stft['frames']} frames x {stft['freqs']} bins, real and imaginary "
        f"stacked ({stft['outputs']} outputs). Zero initial weights, SGD with the normalised-LMS step, batch "
        f"{results['config']['batch_size']}.</p>",
        summary, "<h2>Loss per epoch (MSE over the training set)</h2>",
        table(["epoch", "STFT", "DFT"], rows), images["losses.png"],
        f"<h2>Unseen audio</h2><p>Largest magnitude error relative to the peak: "
        f"{stft['four_tones_max_error_relative_to_peak']:.3g}</p>", images["four_tones.png"],
        "<h2>Learned weights</h2>", images["stft_weights.png"], images["dft_weights.png"],
    ]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>learn-stft</title><style>{STYLE}</style>"
            f"</head><body>{''.join(body)}<pre>{html.escape(json.dumps(results['config']))}</pre></body></html>")
