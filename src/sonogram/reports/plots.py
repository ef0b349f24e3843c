"""Figures: signals, representations, training curves, classification matrices, per-frame predictions, kernels.

Every function returns a matplotlib ``Figure``; :func:`save` writes it as PNG or SVG (by suffix)
atomically. Axes carry units: seconds, Hz, dB.

Example:
    >>> import numpy as np
    >>> fig = plot_waveform(np.sin(np.linspace(0, 100, 8000)), 8000, title="tone")
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['time (s)']
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sonogram.audio import MAX_SAMPLE_RATE  # noqa: E402
from sonogram.features import functional as Fn  # noqa: E402
from sonogram.atomic import write_bytes, write_error  # noqa: E402
from sonogram.errors import ConfigError  # noqa: E402

FORMATS = (".png", ".svg")


def render(fig: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    """Draw ``fig`` as ``fmt`` ("png" or "svg") bytes, then close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (.png or .svg) through a temporary file, then close it."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"{path}: plots are saved as .png or .svg")
    # drawn first, so a full disk is reported with the size the figure needed
    return write_image(render(fig, path.suffix[1:].lower(), dpi), path)


def write_image(data: bytes, path: Path) -> Path:
    """Write drawn figure bytes to ``path`` atomically, creating its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    write_bytes(path, data)
    return path


MIN_N_FFT, MAX_N_FFT = 16, 2**16  # fewer than 9 frequency bins make no readable figure


def _check_spectrum(n_fft: int, hop_length: int | None = None, n_mels: int | None = None) -> int:
    """Refuse an FFT size, hop or mel band count no figure can show; returns the hop (default ``n_fft // 4``)."""
    if not MIN_N_FFT <= n_fft <= MAX_N_FFT:
        raise ConfigError(f"n_fft must be from {MIN_N_FFT} to {MAX_N_FFT}, got {n_fft}")
    hop_length = hop_length or max(1, n_fft // 4)
    if hop_length < 1:
        raise ConfigError(f"hop_length must be positive, got {hop_length}")
    if n_mels is not None and not 1 <= n_mels <= n_fft // 2 + 1:
        raise ConfigError(f"n_mels must be from 1 to the {n_fft // 2 + 1} FFT bins of n_fft={n_fft} "
                          f"(more bands than bins leaves some empty), got {n_mels}")
    return hop_length


def _time_axis(n: int, sample_rate: float) -> np.ndarray:
    return np.arange(n) / sample_rate


def plot_waveform(waveform: np.ndarray, sample_rate: int, title: str = "", ax=None) -> Figure:
    """Amplitude against time in seconds."""
    fig = ax.figure if ax is not None else plt.figure(figsize=(8, 2.4))
    ax = ax or fig.add_subplot()
    ax.plot(_time_axis(len(waveform), sample_rate), waveform, lw=0.6, color="#334")
    ax.set(xlabel="time (s)", ylabel="amplitude", title=title, xlim=(0, len(waveform) / sample_rate))
    return fig


def spectrogram_db(waveform: np.ndarray, sample_rate: int, kind: str = "linear", n_fft: int = 512,
                   hop_length: int | None = None, n_mels: int = 64, top_db: float = 80.0) -> np.ndarray:
    """``(freq, frames)`` power in dB (peak 0 dB): linear-frequency bins, or mel bands for ``kind="mel"``."""
    hop_length = _check_spectrum(n_fft, hop_length, n_mels if kind == "mel" else None)
    x = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
    if len(x) < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - len(x)))
    power = Fn.spectrogram(x, n_fft, hop_length, n_fft, Fn.get_window("hann", n_fft), 2.0)  # (freq, frames)
    if kind == "mel":
        fb = Fn.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, "slaney", "slaney")
        power = Fn.apply_over_freq(power.double(), fb).float()
    db = Fn.amplitude_to_db(power, 10.0, 1e-10, float(power.max().clamp(min=1e-10)), top_db)
    return db.numpy()


def plot_spectrogram(waveform: np.ndarray, sample_rate: int, kind: str = "linear", n_fft: int = 512,
                     hop_length: int | None = None, n_mels: int = 64, title: str = "", ax=None) -> Figure:
    """Power in dB over time (s) and frequency (Hz): ``kind`` is ``linear``, ``log`` (log-frequency axis) or ``mel``."""
    if kind not in ("linear", "log", "mel"):
        raise ConfigError(f"spectrogram kind must be linear, log or mel, got {kind!r}")
    hop_length = _check_spectrum(n_fft, hop_length, n_mels if kind == "mel" else None)
    db = spectrogram_db(waveform, sample_rate, kind, n_fft, hop_length, n_mels)
    fig = ax.figure if ax is not None else plt.figure(figsize=(8, 3.2))
    ax = ax or fig.add_subplot()
    duration = db.shape[1] * hop_length / sample_rate
    if kind == "mel":  # bands evenly spaced on the mel axis, labelled with their centre frequency
        mels = torch.linspace(0.0, float(Fn.hz_to_mel(torch.tensor(sample_rate / 2.0), "slaney")), n_mels + 2)
        centres = Fn.mel_to_hz(mels, "slaney")[1:-1].numpy()
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, -0.5, n_mels - 0.5))
        ticks = np.linspace(0, n_mels - 1, 6).round().astype(int)
        ax.set_yticks(ticks, [f"{centres[t]:.0f}" for t in ticks])
    else:
        freqs = np.linspace(0, sample_rate / 2, db.shape[0])
        image = ax.pcolormesh(np.linspace(0, duration, db.shape[1]), freqs, db, cmap="magma", shading="auto")
        if kind == "log":
            ax.set_yscale("log")
            ax.set_ylim(max(freqs[1], 20.0), sample_rate / 2)
    fig.colorbar(image, ax=ax, label="dB")
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)", title=title or f"{kind} spectrogram")
    return fig


def plot_filterbank(sample_rate: int, n_fft: int = 512, n_mels: int = 40, mel_scale: str = "slaney",
                    norm: str | None = "slaney") -> Figure:
    """Each mel filter's weight over the FFT bins (in Hz)."""
    _check_spectrum(n_fft, n_mels=n_mels)
    if not 1 <= sample_rate <= MAX_SAMPLE_RATE:
        raise ConfigError(f"sample_rate must be from 1 to {MAX_SAMPLE_RATE:,} Hz, got {sample_rate}")
    fb = Fn.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm, mel_scale).numpy()
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(freqs, fb, lw=0.9)
    ax.set(xlabel="frequency (Hz)", ylabel="weight", title=f"{n_mels} mel filters ({mel_scale}, norm={norm}) "
                                                             f"over {n_fft // 2 + 1} FFT bins",
           xlim=(0, sample_rate / 2))
    return fig


def plot_fourier_vs_mel(waveform: np.ndarray, sample_rate: int, time: float | None = None, n_fft: int = 512,
                        n_mels: int = 40) -> Figure:
    """One frame's Fourier power (dB per Hz) beside its mel coefficients (dB per band)."""
    hop = _check_spectrum(n_fft, n_mels=n_mels)
    duration = len(waveform) / sample_rate
    if time is not None and not 0 <= time <= duration:
        raise ConfigError(f"time must be from 0 to the clip's {duration:.2f} s, got {time}")
    linear = spectrogram_db(waveform, sample_rate, "linear", n_fft, hop)
    mel = spectrogram_db(waveform, sample_rate, "mel", n_fft, hop, n_mels)
    frame = int(np.argmax(linear.mean(axis=0))) if time is None else min(int(time * sample_rate / hop),
                                                                           linear.shape[1] - 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    left.plot(np.linspace(0, sample_rate / 2, linear.shape[0]), linear[:, frame], lw=0.8)
    left.set(xlabel="frequency (Hz)", ylabel="dB", title=f"Fourier: {linear.shape[0]} bins at {frame * hop / sample_rate:.2f} s")
    right.bar(np.arange(n_mels), mel[:, frame] - mel[:, frame].min(), bottom=mel[:, frame].min(), color="#c50")
    right.set(xlabel="mel band", ylabel="dB", title=f"mel: {n_mels} coefficients, same frame")
    return fig


def plot_curves(histories: list[tuple[str, list[dict]]]) -> Figure:
    """Loss, accuracy, validation macro-F1 and learning rate per epoch (several runs overlay).

    Args:
        histories: ``(run name, rows of history.csv)`` per run (see :meth:`sonogram.runs.Run.history`).
    """
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for name, rows in histories:
        epochs = [r["epoch"] for r in rows]
        for ax, keys in zip(axes[:2], (("train_loss", "val_loss"), ("train_accuracy", "val_accuracy"))):
            for key, style in zip(keys, ("-", "--")):
                ax.plot(epochs, [r[key] for r in rows], style, label=f"{name} {key.split('_')[0]}")
        axes[2].plot(epochs, [r["val_macro_f1"] for r in rows], label=name)
        axes[3].plot(epochs, [r["lr"] for r in rows], label=name)
    for ax, title in zip(axes, ("loss", "accuracy", "validation macro-F1", "learning rate")):
        ax.set(xlabel="epoch", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    return fig


def plot_confusion(metrics: dict, parts: tuple[str, ...] = ("train", "val", "test")) -> Figure:
    """Classification matrices per part of ``metrics.json``: counts (top row) and normalised by true class (bottom)."""
    parts = [p for p in parts if p in metrics]
    labels = list(metrics[parts[0]]["per_class"])
    size = max(3.2, 0.32 * len(labels) + 1.5)
    fig, axes = plt.subplots(2, len(parts), figsize=(size * len(parts), 2 * size), squeeze=False)
    for column, part in enumerate(parts):
        counts = np.array(metrics[part]["confusion"])
        rates = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        for row, (matrix, fmt) in enumerate(((counts, "d"), (rates, ".2f"))):
            ax = axes[row, column]
            ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
            if len(labels) <= 20:
                for i, j in np.ndindex(matrix.shape):
                    if matrix[i, j]:
                        ax.text(j, i, format(matrix[i, j], fmt), ha="center", va="center", fontsize=7,
                                color="white" if rates[i, j] > 0.5 else "black")
            ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 10 else 0, fontsize=7)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
            kind = "counts" if row == 0 else "row-normalised"
            ax.set(xlabel="predicted", ylabel="true",
                   title=f"{part} {kind}: acc {metrics[part]['accuracy']:.3f}")
    fig.tight_layout()
    return fig


def plot_frames(panels: list[tuple], waveform: np.ndarray, sample_rate: int, title: str = "") -> Figure:
    """Stacked class probabilities along a file, one panel per run, the waveform below on the same time axis,
    with each detected keyword marked over its window in its class's colour.

    Args:
        panels: ``(name, times (positions,), probabilities (positions, classes), labels, detections)`` per
            run; ``detections`` are :class:`~sonogram.inference.detection.Detection` s (may be empty).
    """
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(10, 2.4 * (len(panels) + 1)), sharex=True,
                             gridspec_kw={"height_ratios": [2] * len(panels) + [1]})
    colours = plt.get_cmap("tab20" if max(len(p[3]) for p in panels) > 10 else "tab10")
    duration = len(waveform) / sample_rate
    for ax, (name, times, probabilities, labels, detections) in zip(axes, panels):
        if times[-1] < duration:  # the last window's answer holds to the end of the file: no blank band
            times, probabilities = np.append(times, duration), np.vstack([probabilities, probabilities[-1:]])
        shown = [f" {label}" if label.startswith("_") else label for label in labels]  # legends hide "_..." labels
        ax.stackplot(times, probabilities.T, labels=shown, colors=[colours(i) for i in range(len(labels))],
                     step="mid")
        top = labels[int(probabilities.mean(axis=0).argmax())]
        heard = f"; heard: {' '.join(d.label for d in detections)}" if detections else ""
        ax.set(ylabel="probability", ylim=(0, 1), title=f"{name}: most probable over the file '{top}'{heard}")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, ncol=1 + len(labels) // 13)
        for d in detections:
            colour = colours(labels.index(d.label))
            axes[-1].axvspan(d.start, d.end, color=colour, alpha=0.25, lw=0)
            axes[-1].axvline(d.end, color=colour, lw=1.2)
            axes[-1].annotate(f"{d.label} {d.score:.2f}", (d.end, 1.0), xycoords=("data", "axes fraction"),
                              ha="right", va="bottom", fontsize=8, color=colour, fontweight="bold")
    plot_waveform(waveform, sample_rate, ax=axes[-1])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def kernel_weights(network: torch.nn.Module) -> tuple[str, np.ndarray]:
    """The first learnable kernels of a network: a ``LearnableSTFT``'s, else the first convolution's.

    Returns a name and ``(kernels, taps)`` for 1-D kernels, or ``(kernels, height, width)`` for a 2-D
    convolution (its input channels averaged).
    """
    from sonogram.features.layers import LearnableSTFT

    for name, module in network.named_modules():
        if isinstance(module, LearnableSTFT):
            return f"{name} (LearnableSTFT)", module.weight.detach().cpu().squeeze(1).numpy()
    for name, module in network.named_modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            weight = module.weight.detach().cpu()
            kernels = weight.mean(1) if isinstance(module, torch.nn.Conv2d) else weight.flatten(1)
            return f"{name} ({type(module).__name__})", kernels.numpy()
    raise ConfigError("the network has no LearnableSTFT or convolution whose kernels could be shown")


def plot_weights(name: str, kernels: np.ndarray, traces: int = 4) -> Figure:
    """1-D kernels as an image (one row per kernel) and a few as traces; 2-D kernels as a grid of small images."""
    if kernels.ndim == 3:
        return _plot_2d_kernels(name, kernels)
    fig, (image_ax, trace_ax) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    limit = np.abs(kernels).max() or 1.0
    image = image_ax.imshow(kernels, aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
    fig.colorbar(image, ax=image_ax)
    image_ax.set(xlabel="tap", ylabel="kernel", title=f"{name}: {kernels.shape[0]} kernels x {kernels.shape[1]} taps")
    picks = np.linspace(1, kernels.shape[0] - 1, traces).astype(int) if kernels.shape[0] > 1 else [0]
    for k in picks:
        trace_ax.plot(kernels[k], lw=0.8, label=f"kernel {k}")
    trace_ax.set(xlabel="tap", title="a few kernels")
    trace_ax.legend(fontsize=7)
    return fig


def _plot_2d_kernels(name: str, kernels: np.ndarray, most: int = 32) -> Figure:
    """Up to ``most`` 2-D kernels ``(kernels, height, width)``, each as its own small image on one colour scale."""
    shown = kernels[:most]
    columns = min(8, len(shown))
    rows = -(-len(shown) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows + 0.6), squeeze=False)
    limit = np.abs(shown).max() or 1.0
    for ax, kernel in zip(axes.flat, shown):
        ax.imshow(kernel, cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
    for ax in axes.flat:
        ax.set_axis_off()
    height, width = kernels.shape[1:]
    fig.suptitle(f"{name}: {len(shown)} of {len(kernels)} kernels, {height}x{width} (input channels averaged)")
    fig.tight_layout()
    return fig
