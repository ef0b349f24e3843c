"""Pure tensor maths for the front-ends: STFT, mel filterbank, dB, DCT, deltas, decimation.

Shapes: waveforms ``(..., time)``; spectrograms ``(..., freq, frames)``. Argument names and
defaults follow torchaudio; the numerical reference is librosa (and scipy.signal).

Example:
    >>> import torch
    >>> spectrogram(torch.zeros(2, 8000), n_fft=256, hop_length=128).shape
    torch.Size([2, 129, 63])
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F

from sonogram.errors import ConfigError

WINDOWS = ("hann", "hamming", "blackman", "rectangular")


def get_window(name: str, win_length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Periodic ("fftbins") window of ``win_length`` samples, as librosa and scipy use for spectra."""
    if name not in WINDOWS:
        raise ConfigError(f"unknown window_fn {name!r}; valid: {', '.join(WINDOWS)}")
    if name == "rectangular":
        return torch.ones(win_length, dtype=dtype)
    window = scipy.signal.get_window(name, win_length, fftbins=True)
    return torch.from_numpy(window).to(dtype)


def check_stft_args(n_fft: int, win_length: int, hop_length: int) -> None:
    if n_fft < 2:
        raise ConfigError(f"n_fft must be at least 2, got {n_fft}")
    if not 1 <= win_length <= n_fft:
        raise ConfigError(f"win_length must be in [1, n_fft={n_fft}], got {win_length}")
    if hop_length < 1:
        raise ConfigError(f"hop_length must be positive, got {hop_length}")


# Frames per chunk are sized so one chunk's frames, spectrum and power stay in a core's L2 cache:
# the STFT of a whole batch at once walks hundreds of MB through memory (and glibc maps and unmaps
# buffers that large on every call), which made it 2-6x slower and its timing erratic.
CHUNK_BYTES = 1 << 20


def num_frames(length: int, n_fft: int, hop_length: int, center: bool = True) -> int:
    """Frames of an STFT over ``length`` samples (``center`` pads ``n_fft // 2`` on each side)."""
    padded = length + 2 * (n_fft // 2) if center else length
    return 1 + (padded - n_fft) // hop_length


def frame(waveform: torch.Tensor, n_fft: int, hop_length: int, center: bool = True,
          pad_mode: str = "reflect") -> torch.Tensor:
    """Overlapping frames ``(batch, time) -> (batch, frames, n_fft)``, a strided view of the (padded) waveform."""
    length = waveform.shape[-1]
    if center:
        if pad_mode == "reflect" and length <= n_fft // 2:
            raise ConfigError(f"a centred STFT with reflect padding needs more than n_fft // 2 = {n_fft // 2} "
                             f"samples, got {length}")
        waveform = F.pad(waveform.unsqueeze(1), (n_fft // 2, n_fft // 2), mode=pad_mode).squeeze(1)
    elif length < n_fft:
        raise ConfigError(f"an STFT without centring needs at least n_fft = {n_fft} samples, got {length}")
    return waveform.unfold(-1, n_fft, hop_length)


def _stft_chunks(waveform: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor, center: bool,
                 pad_mode: str, dtype: torch.dtype):
    """Yield ``(frames, spectrum)`` for successive row chunks of ``waveform (batch, time)``.

    ``frames`` is the unwindowed ``(rows, frames, n_fft)`` view in the waveform's precision and
    ``spectrum`` the one-sided STFT ``(rows, frames, freq)`` computed in ``dtype``. Frames come first
    and frequencies last, so each frame's FFT and the mel product that follows read contiguous memory.
    """
    count = num_frames(waveform.shape[-1], n_fft, hop_length, center)
    rows = max(1, CHUNK_BYTES // max(1, count * n_fft * torch.finfo(dtype).bits // 8))
    if tracing():  # an exported graph must not unroll a loop over the batch it was traced with
        rows = waveform.shape[0]
    window = window.to(dtype)
    for chunk in waveform.split(rows):
        frames = frame(chunk, n_fft, hop_length, center, pad_mode)
        yield frames, torch.fft.rfft(frames.to(dtype) * window, dim=-1)


def tracing() -> bool:
    """True while ``torch.export``, ``torch.compile`` or TorchScript records the graph: data-dependent steps are skipped."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()


def _fft_window(window: torch.Tensor | None, n_fft: int, win_length: int, normalized: bool, like: torch.Tensor
                ) -> torch.Tensor:
    """The analysis window zero-padded in the centre to ``(n_fft,)``, as ``torch.stft`` pads it.

    With ``normalized`` it is divided by its L2 norm, which scales the spectrum exactly as
    torchaudio's ``normalized=True``.
    """
    if window is None:
        window = get_window("hann", win_length, like.dtype).to(like.device)
    if normalized:
        window = window / window.double().pow(2).sum().sqrt().to(window.dtype)
    left = (n_fft - window.shape[-1]) // 2
    return F.pad(window, (left, n_fft - window.shape[-1] - left))


def _power(spec: torch.Tensor, power: float) -> torch.Tensor:
    """``|spec| ** power`` of a complex tensor, without a square root for ``power = 2``."""
    if power == 2.0:  # squaring the interleaved (re, im) pairs is contiguous; .real/.imag are strided
        parts = torch.view_as_real(spec).square()  # (..., freq, 2)
        return parts[..., 0] + parts[..., 1]
    magnitude = spec.abs()
    return magnitude if power == 1.0 else magnitude.pow(power)


# A float32 FFT is accurate to about 1e-7 of a frame's RMS spectrum in every bin (measured max 7e-8).
# A band whose power is a fraction q of (frame energy x filter weight) then has a relative error of
# at most ~2e-7 / sqrt(q) (Cauchy-Schwarz over the band's bins): below q = 1e-6 (-60 dB) that could
# pass 1e-3 dB, so such frames are computed again in float64.
QUIET_BAND = 1e-6


def _refine_quiet_frames(mel: torch.Tensor, energy: torch.Tensor, frames: torch.Tensor, window: torch.Tensor,
                         fb: torch.Tensor, floor: torch.Tensor, exponent: float) -> torch.Tensor:
    """Recompute in float64 the frames of a float32 mel chunk whose quietest band float32 cannot resolve.

    ``mel (rows, frames, n_mels)``; ``energy (rows, frames, 1)`` the sum of each frame's spectrum;
    ``frames (rows, frames, n_fft)``; ``floor (n_mels,)`` is :data:`QUIET_BAND` times each filter's weight.
    """
    quiet = torch.addcmul(mel, energy, floor, value=-1.0).amin(-1) < 0  # (rows, frames): some band below its floor
    if not bool(quiet.any()):
        return mel
    where = quiet.nonzero(as_tuple=True)
    spec = torch.fft.rfft(frames[where].double() * window.double(), dim=-1)  # (quiet frames, freq)
    exact = _power(spec, exponent) @ fb.double()  # (quiet frames, n_mels)
    return mel.index_put(where, exact.to(mel.dtype))


def spectrogram(
    waveform: torch.Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: torch.Tensor | None = None,
    power: float | None = 2.0,
    normalized: bool = False,
    center: bool = True,
    pad_mode: str = "reflect",
    pad: int = 0,
    float64_stft: bool = False,
) -> torch.Tensor:
    """Short-time Fourier transform: windowed frames, then a real FFT per frame, a cache-sized chunk at a time.

    Args:
        waveform: ``(..., time)``.
        window: ``(win_length,)``; Hann when ``None``. Zero-padded to ``n_fft`` on both sides.
        power: exponent of the magnitude (2 = power, 1 = magnitude); ``None`` returns the complex STFT.
        normalized: divide by the window's L2 norm (torchaudio's ``normalized=True``).
        float64_stft: compute the FFT in float64 and return the input's precision. A float32 FFT
            is only accurate to about 1e-7 of a frame's energy, so bins 60-80 dB down carry up to
            ~1e-3 dB of error; float64 brings them to librosa's accuracy for about half the speed.

    Returns:
        ``(..., n_fft // 2 + 1, frames)``, complex when ``power is None``.
    """
    win_length = win_length or n_fft
    window = _fft_window(window, n_fft, win_length, normalized, waveform)
    if pad > 0:
        waveform = F.pad(waveform, (pad, pad))
    dtype = torch.float64 if float64_stft else waveform.dtype
    shape = waveform.shape
    chunks = []
    for _, spec in _stft_chunks(waveform.reshape(-1, shape[-1]), n_fft, hop_length, window, center, pad_mode, dtype):
        if power is None:
            chunks.append(spec.to(torch.complex128 if waveform.dtype == torch.float64 else torch.complex64))
        else:
            chunks.append(_power(spec, power).to(waveform.dtype))
    spec = torch.cat(chunks).transpose(-1, -2)  # (B, freq, frames)
    return spec.reshape(shape[:-1] + spec.shape[-2:])


def mel_spectrogram(
    waveform: torch.Tensor,
    fb: torch.Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: torch.Tensor | None = None,
    power: float = 2.0,
    normalized: bool = False,
    center: bool = True,
    pad_mode: str = "reflect",
    pad: int = 0,
    float64_stft: bool = False,
) -> torch.Tensor:
    """:func:`spectrogram` followed by the mel filterbank ``fb (n_fft // 2 + 1, n_mels)``, chunk by chunk.

    A float32 waveform gets a float32 FFT, and only the frames with a band more than 60 dB below
    the frame's energy (:data:`QUIET_BAND`) are computed again in float64, which keeps every band
    within ~1e-4 dB of a float64 STFT at close to float32 speed. ``float64_stft`` computes every
    frame in float64. Returns ``(..., n_mels, frames)`` in the waveform's precision.
    """
    win_length = win_length or n_fft
    window = _fft_window(window, n_fft, win_length, normalized, waveform)
    if pad > 0:
        waveform = F.pad(waveform, (pad, pad))
    # A recorded graph cannot pick frames by their values, so it computes them all in float64.
    dtype = torch.float64 if float64_stft or tracing() else waveform.dtype
    refine = dtype != torch.float64
    fb_dtype = fb.to(dtype)
    floor = QUIET_BAND * fb_dtype.sum(0)  # (n_mels,)
    shape = waveform.shape
    chunks = []
    for frames, spec in _stft_chunks(waveform.reshape(-1, shape[-1]), n_fft, hop_length, window, center, pad_mode,
                                     dtype):
        power_spec = _power(spec, power)  # (rows, frames, freq)
        mel = power_spec @ fb_dtype  # (rows, frames, n_mels)
        if refine:
            energy = power_spec.sum(-1, keepdim=True)  # (rows, frames, 1)
            mel = _refine_quiet_frames(mel, energy, frames, window, fb, floor, power)
        chunks.append(mel.to(waveform.dtype))
    mel = torch.cat(chunks).transpose(-1, -2)  # (B, n_mels, frames)
    return mel.reshape(shape[:-1] + mel.shape[-2:])


# Slaney's mel scale: linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(freq: torch.Tensor, mel_scale: str = "htk") -> torch.Tensor:
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    f_sp, min_log_hz, min_log_mel, logstep = _SLANEY_F_SP, _SLANEY_MIN_LOG_HZ, _SLANEY_MIN_LOG_MEL, _SLANEY_LOGSTEP
    return torch.where(freq >= min_log_hz, min_log_mel + torch.log(freq.clamp(min=1e-10) / min_log_hz) / logstep,
                       freq / f_sp)


def mel_to_hz(mels: torch.Tensor, mel_scale: str = "htk") -> torch.Tensor:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz, min_log_mel, logstep = _SLANEY_F_SP, _SLANEY_MIN_LOG_HZ, _SLANEY_MIN_LOG_MEL, _SLANEY_LOGSTEP
    return torch.where(mels >= min_log_mel, min_log_hz * torch.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: str | None = None, mel_scale: str = "htk") -> torch.Tensor:
    """Triangular mel filters ``(n_freqs, n_mels)``, built in float64 exactly as ``librosa.filters.mel``.

    ``norm="slaney"`` scales each filter to constant energy per Hz; ``mel_scale`` is ``"htk"`` or ``"slaney"``.
    """
    if mel_scale not in ("htk", "slaney"):
        raise ConfigError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    if norm not in (None, "slaney"):
        raise ConfigError(f"norm must be None or 'slaney', got {norm!r}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ConfigError(f"need 0 <= f_min < f_max <= sample_rate/2 = {sample_rate / 2:g}, got f_min={f_min}, f_max={f_max}")
    if n_mels < 1:
        raise ConfigError(f"n_mels must be positive, got {n_mels}")
    all_freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    m_min, m_max = hz_to_mel(torch.tensor(float(f_min), dtype=torch.float64), mel_scale), hz_to_mel(
        torch.tensor(float(f_max), dtype=torch.float64), mel_scale)
    f_pts = mel_to_hz(torch.linspace(float(m_min), float(m_max), n_mels + 2, dtype=torch.float64), mel_scale)
    f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.clamp(torch.minimum(down, up), min=0.0)  # (n_freqs, n_mels)
    if norm == "slaney":
        fb = fb * (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


def apply_over_freq(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Map the frequency axis through ``matrix (freq_in, freq_out)``: ``(..., freq_in, frames) -> (..., freq_out, frames)``."""
    return torch.matmul(x.transpose(-1, -2), matrix).transpose(-1, -2)  # (..., frames, freq_out) -> (..., freq_out, frames)


def amplitude_to_db(x: torch.Tensor, multiplier: float = 10.0, amin: float = 1e-10, ref: float = 1.0,
                    top_db: float | None = None) -> torch.Tensor:
    """``multiplier * log10(max(x, amin) / ref)``, floored at ``top_db`` below the peak of each clip.

    The floor is computed per ``(freq, frames)`` plane of ``x (..., freq, frames)``, never across a
    batch, so a clip's features do not depend on the loudest clip it is batched with.
    """
    db = torch.log10(torch.clamp(x, min=amin))
    owned = _may_overwrite(db)
    db = db.mul_(multiplier) if owned else db * multiplier
    offset = multiplier * math.log10(max(amin, ref))
    if offset:
        db = db - offset
    return db if top_db is None else floor_db(db, top_db, overwrite=owned)


def _may_overwrite(x: torch.Tensor) -> bool:
    """True when ``x`` (a tensor this module just made) can be updated in place: no autograd, no graph recording."""
    return not x.requires_grad and not tracing()


def floor_db(db: torch.Tensor, top_db: float, overwrite: bool = False) -> torch.Tensor:
    """Decibels ``(..., freq, frames)`` floored ``top_db`` below the peak of each ``(freq, frames)`` plane.

    ``overwrite`` floors ``db`` in place, for a caller that owns it.
    """
    if top_db < 0:
        raise ConfigError(f"top_db must be non-negative, got {top_db}")
    floor = db.amax(dim=(-2, -1), keepdim=True) - top_db
    return torch.maximum(db, floor, out=db) if overwrite else torch.maximum(db, floor)


def create_dct(n_mfcc: int, n_mels: int, norm: str | None = "ortho") -> torch.Tensor:
    """DCT-II matrix ``(n_mels, n_mfcc)`` equal to ``scipy.fft.dct(type=2, norm=norm)`` along the mel axis."""
    if norm not in (None, "ortho"):
        raise ConfigError(f"DCT norm must be None or 'ortho', got {norm!r}")
    if not 1 <= n_mfcc <= n_mels:
        raise ConfigError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64).unsqueeze(1)
    dct = 2.0 * torch.cos(math.pi / n_mels * (n + 0.5) * k)  # (n_mfcc, n_mels)
    if norm == "ortho":
        dct[0] *= 1.0 / math.sqrt(4 * n_mels)
        dct[1:] *= 1.0 / math.sqrt(2 * n_mels)
    return dct.t()


def compute_deltas(x: torch.Tensor, win_length: int = 5) -> torch.Tensor:
    """Regression deltas over the last axis with edge replication: ``(..., freq, frames)`` in and out.

    Equals ``librosa.feature.delta(x, width=win_length, mode="nearest")``.
    """
    if win_length < 3 or win_length % 2 == 0:
        raise ConfigError(f"delta win_length must be odd and >= 3, got {win_length}")
    n = win_length // 2
    shape = x.shape
    flat = x.reshape(-1, 1, shape[-1])
    padded = F.pad(flat, (n, n), mode="replicate")
    kernel = torch.arange(-n, n + 1, dtype=x.dtype, device=x.device).view(1, 1, -1)  # correlation: sum_i i * x[t + i]
    denom = 2 * sum(i * i for i in range(1, n + 1))
    return (F.conv1d(padded, kernel) / denom).reshape(shape)


def decimation_filter(factor: int, half_length: int | None = None) -> np.ndarray:
    """Hamming-windowed FIR low-pass with cut-off at the new Nyquist, as ``scipy.signal.decimate(ftype="fir")``."""
    if factor < 1:
        raise ConfigError(f"decimation factor must be a positive integer, got {factor}")
    half_length = 10 * factor if half_length is None else half_length
    return scipy.signal.firwin(2 * half_length + 1, 1.0 / factor, window="hamming")


def decimate(waveform: torch.Tensor, factor: int, taps: torch.Tensor) -> torch.Tensor:
    """Zero-phase FIR filtering then keeping every ``factor``-th sample: ``(..., time) -> (..., ceil(time / factor))``."""
    if factor == 1:
        return waveform
    shape = waveform.shape
    half = (taps.numel() - 1) // 2
    flat = F.pad(waveform.reshape(-1, 1, shape[-1]), (half, half))
    out = F.conv1d(flat, taps.flip(0).view(1, 1, -1), stride=factor)  # (B, 1, ceil(time / factor))
    return out.reshape(shape[:-1] + out.shape[-1:])


def dft_kernels(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """Windowed DFT basis ``(2 * (n_fft // 2 + 1), n_fft)``: real rows then imaginary rows.

    ``window`` is zero-padded to ``n_fft`` in the centre, as ``torch.stft`` does, so a convolution
    with these kernels reproduces the STFT.
    """
    win_length = window.numel()
    left = (n_fft - win_length) // 2
    padded = torch.zeros(n_fft, dtype=torch.float64)
    padded[left : left + win_length] = window.to(torch.float64)
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)
    angle = 2 * math.pi * k * n / n_fft  # (freq, n_fft)
    return torch.cat([torch.cos(angle) * padded, -torch.sin(angle) * padded])
