"""Front-ends as ``nn.Module`` layers: they run inside the network, batched, on any device.

Every module takes waveforms ``(..., time)`` (or, for the spectral post-processors, features
``(..., channel, freq, frames)``) and returns features ``(..., channel, freq, frames)``. Fixed
tensors (windows, filterbanks, DCT matrices, FIR taps) are buffers built once in ``__init__``.
Each declares its contract (:class:`~sonogram.features.base.FrontendLayer`): what it takes, its rate
change, frame geometry and whether it needs the whole clip.

Example:
    >>> import torch
    >>> MelSpectrogram(sample_rate=8000, n_fft=256, hop_length=128, n_mels=40)(torch.zeros(4, 8000)).shape
    torch.Size([4, 1, 40, 63])
"""

from __future__ import annotations

import torch
from torch import nn

from sonogram.errors import ConfigError
from sonogram.features import functional as Fn
from sonogram.features.base import FrameGeometry, FrontendLayer


def _positive_int(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


class Waveform(FrontendLayer):
    """The raw wave as a feature map ``(..., 1, 1, time)``, with optional pre-emphasis and per-clip scaling.

    Args:
        pre_emphasis: ``y[t] = x[t] - a * x[t-1]``; 0 disables it.
        normalize: ``None``, ``"peak"`` (max |x| = 1) or ``"rms"`` (RMS = 1), per clip.

    Example:
        >>> Waveform(normalize="peak")(torch.tensor([[0.0, 0.5, -0.25]]))
        tensor([[[[ 0.0000,  1.0000, -0.5000]]]])
    """

    def __init__(self, pre_emphasis: float = 0.0, normalize: str | None = None, eps: float = 1e-8):
        super().__init__()
        if normalize not in (None, "peak", "rms"):
            raise ConfigError(f"normalize must be None, 'peak' or 'rms', got {normalize!r}")
        if not 0.0 <= pre_emphasis < 1.0:
            raise ConfigError(f"pre_emphasis must be in [0, 1), got {pre_emphasis}")
        self.pre_emphasis, self.normalize, self.eps = pre_emphasis, normalize, eps

    @property
    def needs_whole_clip(self) -> bool:
        return self.normalize is not None

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., 1, 1, time)``."""
        x = waveform
        if self.pre_emphasis:
            x = torch.cat([x[..., :1], x[..., 1:] - self.pre_emphasis * x[..., :-1]], dim=-1)
        if self.normalize == "peak":
            x = x / x.abs().amax(dim=-1, keepdim=True).clamp(min=self.eps)
        elif self.normalize == "rms":
            x = x / x.square().mean(dim=-1, keepdim=True).sqrt().clamp(min=self.eps)
        return x.unsqueeze(-2).unsqueeze(-2)


class Decimate(FrontendLayer):
    """Anti-aliased down-conversion by an integer factor (e.g. 48 kHz / 16 = 3 kHz): ``(..., time) -> (..., time / rate)``.

    A zero-phase Hamming-windowed FIR low-pass at the new Nyquist frequency, then every
    ``rate``-th sample; equal to ``scipy.signal.decimate(x, rate, ftype="fir")``.

    Example:
        >>> Decimate(16)(torch.zeros(2, 48000)).shape
        torch.Size([2, 3000])
    """

    def __init__(self, rate: int):
        super().__init__()
        self.rate = _positive_int("rate", rate)
        self.register_buffer("taps", torch.from_numpy(Fn.decimation_filter(rate)).float())

    gives = "waveform"

    def output_rate(self, rate: float) -> float:
        return rate / self.rate

    @property
    def receptive_field(self) -> int:
        return len(self.taps)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return Fn.decimate(waveform, self.rate, self.taps)


class Crop(FrontendLayer):
    """The clip cut (or zero-padded) to ``num_samples``: ``(..., time) -> (..., num_samples)``.

    For a branch that wants a shorter window than the design's clip, such as the 1.5 s the MSWC
    ResNet-50 was trained on beside speech_embedding's 2 s. ``align`` is as ``design.align``:
    ``center`` keeps the middle, ``left`` the start.

    Example:
        >>> Crop(2)(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
        tensor([[2., 3.]])
    """

    def __init__(self, num_samples: int, align: str = "center"):
        super().__init__()
        if align not in ("center", "left"):
            raise ConfigError(f"align must be 'center' or 'left', got {align!r}")
        self.num_samples, self.align = _positive_int("num_samples", num_samples), align

    gives = "waveform"

    @property
    def needs_whole_clip(self) -> bool:
        return True  # where the window falls depends on the clip's length

    @property
    def cacheable(self) -> bool:
        return True

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        excess = waveform.shape[-1] - self.num_samples
        first = excess // 2 if self.align == "center" else 0
        if excess >= 0:
            return waveform[..., first:first + self.num_samples]
        before = -excess // 2 if self.align == "center" else 0
        return nn.functional.pad(waveform, (before, -excess - before))


class FFT(FrontendLayer):
    """Spectrum of the whole clip (no framing): ``(..., time) -> (..., C, n_fft // 2 + 1, 1)``.

    Args:
        n_fft: FFT size; the clip is zero-padded or cut to it (``None``: the clip's length).
        output: ``"magnitude"``, ``"power"`` (C = 1) or ``"complex"`` (C = 2: real, imaginary).

    Example:
        >>> FFT(output="complex")(torch.zeros(3, 100)).shape
        torch.Size([3, 2, 51, 1])
    """

    def __init__(self, n_fft: int | None = None, output: str = "magnitude"):
        super().__init__()
        if output not in ("magnitude", "power", "complex"):
            raise ConfigError(f"FFT output must be 'magnitude', 'power' or 'complex', got {output!r}")
        self.n_fft, self.output = None if n_fft is None else _positive_int("n_fft", n_fft), output

    @property
    def needs_whole_clip(self) -> bool:
        return True  # one spectrum of the whole clip

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(waveform, n=self.n_fft, dim=-1)  # (..., freq)
        if self.output == "complex":
            return torch.stack([spec.real, spec.imag], dim=-2).unsqueeze(-1)
        mag = spec.abs() if self.output == "magnitude" else spec.real.square() + spec.imag.square()
        return mag.unsqueeze(-2).unsqueeze(-1)


class Spectrogram(FrontendLayer):
    """STFT magnitude to a power, or the complex STFT as two channels (real, imaginary).

    torchaudio's arguments and defaults; ``window_fn`` is a name (``"hann"``, ``"hamming"``,
    ``"blackman"``, ``"rectangular"``) so designs stay plain data. ``float64_stft`` (default on)
    computes the FFT in float64 for librosa-level accuracy in quiet bins; turn it off for speed on
    GPUs with slow float64.

    Example:
        >>> Spectrogram(n_fft=256, hop_length=64, power=None)(torch.zeros(2, 8000)).shape
        torch.Size([2, 2, 129, 126])
    """

    def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None, pad: int = 0,
                 window_fn: str = "hann", power: float | None = 2.0, normalized: bool = False, center: bool = True,
                 pad_mode: str = "reflect", float64_stft: bool = True):
        super().__init__()
        self.n_fft, self.float64_stft = n_fft, float64_stft
        self.win_length = win_length or n_fft
        self.hop_length = hop_length or self.win_length // 2
        Fn.check_stft_args(n_fft, self.win_length, self.hop_length)
        if power is not None and power <= 0:
            raise ConfigError(f"power must be positive or None (complex output), got {power}")
        if pad_mode not in ("reflect", "constant", "replicate", "circular"):
            raise ConfigError(f"pad_mode must be reflect, constant, replicate or circular, got {pad_mode!r}")
        self.pad, self.power, self.normalized, self.center, self.pad_mode = pad, power, normalized, center, pad_mode
        self.register_buffer("window", Fn.get_window(window_fn, self.win_length))

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def geometry(self) -> FrameGeometry:
        window = self.n_fft if self.center else self.win_length
        return FrameGeometry(window, self.hop_length, self.center, self.pad)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., C, n_fft // 2 + 1, frames)``; C = 2 for complex output, else 1."""
        spec = Fn.spectrogram(waveform, self.n_fft, self.hop_length, self.win_length, self.window, self.power,
                              self.normalized, self.center, self.pad_mode, self.pad, self.float64_stft)
        if self.power is None:
            return torch.stack([spec.real, spec.imag], dim=-3)
        return spec.unsqueeze(-3)


class AmplitudeToDB(FrontendLayer):
    """Power (``stype="power"``) or magnitude (``"magnitude"``) to decibels, floored ``top_db`` below each clip's peak.

    ``amin`` defaults to librosa's: 1e-10 for power, 1e-5 for magnitude (the same -100 dB floor).

    Example:
        >>> AmplitudeToDB(top_db=20.0)(torch.tensor([[[[1.0, 1e-4]]]]))
        tensor([[[[  0., -20.]]]])
    """

    def __init__(self, stype: str = "power", top_db: float | None = None, amin: float | None = None, ref: float = 1.0):
        super().__init__()
        if stype not in ("power", "magnitude"):
            raise ConfigError(f"stype must be 'power' or 'magnitude', got {stype!r}")
        self.multiplier = 10.0 if stype == "power" else 20.0
        self.amin = amin if amin is not None else (1e-10 if stype == "power" else 1e-5)
        self.top_db, self.ref = top_db, ref

    takes = "features"

    @property
    def needs_whole_clip(self) -> bool:
        return self.top_db is not None  # the floor sits top_db below each clip's peak

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., freq, frames)`` in and out; the floor is per ``(freq, frames)`` plane."""
        return Fn.amplitude_to_db(x, self.multiplier, self.amin, self.ref, self.top_db)


class MelScale(nn.Module):
    """Linear-frequency spectrogram to mel bands: ``(..., n_stft, frames) -> (..., n_mels, frames)``."""

    def __init__(self, n_mels: int = 128, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None,
                 n_stft: int = 201, norm: str | None = None, mel_scale: str = "htk"):
        super().__init__()
        self.n_mels = n_mels
        fb = Fn.melscale_fbanks(n_stft, f_min, f_max if f_max is not None else sample_rate / 2, n_mels, sample_rate,
                                norm, mel_scale)
        self.register_buffer("fb", fb.float())  # (n_stft, n_mels)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return Fn.apply_over_freq(spec, self.fb)


class MelSpectrogram(FrontendLayer):
    """Mel-frequency spectrogram (torchaudio's arguments): ``(..., time) -> (..., 1, n_mels, frames)``.

    A float32 FFT, with the frames that have a band more than 60 dB below their energy computed
    again in float64 (see :func:`~sonogram.features.functional.mel_spectrogram`): within ~1e-4 dB of
    librosa at float32 speed. ``float64_stft=True`` computes every frame in float64.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, f_min: float = 0.0, f_max: float | None = None, pad: int = 0,
                 n_mels: int = 128, window_fn: str = "hann", power: float = 2.0, normalized: bool = False,
                 center: bool = True, pad_mode: str = "reflect", norm: str | None = None, mel_scale: str = "htk",
                 float64_stft: bool = False):
        super().__init__()
        if power is None:
            raise ConfigError("MelSpectrogram needs a real power (1 or 2), not complex output")
        self.spectrogram = Spectrogram(n_fft, win_length, hop_length, pad, window_fn, power, normalized, center, pad_mode,
                                       float64_stft)
        self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, self.spectrogram.n_freqs, norm, mel_scale)

    @property
    def geometry(self) -> FrameGeometry:
        return self.spectrogram.geometry

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., 1, n_mels, frames)``: the STFT, power and filterbank in one chunked pass."""
        s = self.spectrogram
        mel = Fn.mel_spectrogram(waveform, self.mel_scale.fb, s.n_fft, s.hop_length, s.win_length, s.window, s.power,
                                 s.normalized, s.center, s.pad_mode, s.pad, s.float64_stft)
        return mel.unsqueeze(-3)


class LogMelSpectrogram(FrontendLayer):
    """Mel spectrogram in dB with a per-clip ``top_db`` floor: the usual CNN input.

    Example:
        >>> LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=128, n_mels=40)(torch.randn(2, 8000)).shape
        torch.Size([2, 1, 40, 63])
    """

    def __init__(self, top_db: float | None = 80.0, **melkwargs):
        super().__init__()
        self.mel = MelSpectrogram(**melkwargs)
        stype = "power" if self.mel.spectrogram.power == 2.0 else "magnitude"
        self.to_db = AmplitudeToDB(stype, top_db)

    @classmethod
    def argument_names(cls) -> list[str]:
        return ["top_db", *MelSpectrogram.argument_names()]

    @classmethod
    def argument_types(cls) -> dict:
        return {**MelSpectrogram.argument_types(), **super().argument_types()}

    @property
    def geometry(self) -> FrameGeometry:
        return self.mel.geometry

    @property
    def needs_whole_clip(self) -> bool:
        return self.to_db.needs_whole_clip

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.to_db(self.mel(waveform))

    def frame_part(self, waveform: torch.Tensor) -> torch.Tensor:
        """Decibels before the per-clip floor: ``(..., time) -> (..., 1, n_mels, frames)``."""
        to_db = self.to_db
        return Fn.amplitude_to_db(self.mel(waveform), to_db.multiplier, to_db.amin, to_db.ref)

    def window_part(self, frames: torch.Tensor) -> torch.Tensor:
        """The floor ``top_db`` below the window's peak."""
        return frames if self.to_db.top_db is None else Fn.floor_db(frames, self.to_db.top_db)


class MFCC(FrontendLayer):
    """Mel-frequency cepstral coefficients, optionally with deltas as extra channels.

    Args:
        n_mfcc: coefficients kept; ``dct_type`` 2 only; ``norm`` ``"ortho"`` or ``None``.
        log_mels: ``log(mel + 1e-6)`` instead of dB (torchaudio's switch); dB uses ``top_db``.
        deltas: 0, 1 (add Δ) or 2 (add Δ and ΔΔ) channels.
        melkwargs: :class:`MelSpectrogram` arguments.

    Example:
        >>> MFCC(sample_rate=8000, n_mfcc=13, deltas=2, melkwargs={"n_fft": 256, "n_mels": 40})(torch.randn(8000)).shape
        torch.Size([3, 13, 63])
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 40, dct_type: int = 2, norm: str | None = "ortho",
                 log_mels: bool = False, top_db: float | None = 80.0, deltas: int = 0, delta_win_length: int = 5,
                 melkwargs: dict | None = None):
        super().__init__()
        if dct_type != 2:
            raise ConfigError(f"only dct_type=2 is supported, got {dct_type}")
        if deltas not in (0, 1, 2):
            raise ConfigError(f"deltas must be 0, 1 or 2, got {deltas}")
        self.mel = MelSpectrogram(sample_rate=sample_rate, **(melkwargs or {}))
        self.log_mels, self.deltas, self.delta_win_length = log_mels, deltas, delta_win_length
        self.to_db = AmplitudeToDB("power", top_db)
        self.register_buffer("dct", Fn.create_dct(n_mfcc, self.mel.mel_scale.n_mels, norm).float())  # (n_mels, n_mfcc)

    @property
    def geometry(self) -> FrameGeometry:
        mel = self.mel.geometry  # deltas widen each frame's reach by (delta_win_length // 2) frames per order
        reach = self.deltas * (self.delta_win_length // 2) * mel.hop
        return FrameGeometry(mel.window + 2 * reach, mel.hop, mel.center, mel.pad) if reach else mel

    @property
    def frame_geometry(self) -> FrameGeometry:
        return self.mel.geometry

    @property
    def needs_whole_clip(self) -> bool:
        return not self.log_mels and self.to_db.needs_whole_clip

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., 1 + deltas, n_mfcc, frames)``."""
        return self.window_part(self.frame_part(waveform))

    def frame_part(self, waveform: torch.Tensor) -> torch.Tensor:
        """The mel power spectrogram ``(..., 1, n_mels, frames)``; the log, floor, DCT and deltas work per window."""
        return self.mel(waveform)

    def window_part(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel power ``(..., 1, n_mels, frames)`` -> ``(..., 1 + deltas, n_mfcc, frames)``."""
        mel = torch.log(mel + 1e-6) if self.log_mels else self.to_db(mel)
        mfcc = Fn.apply_over_freq(mel, self.dct)  # (..., 1, n_mfcc, frames)
        channels = [mfcc]
        for _ in range(self.deltas):
            channels.append(Fn.compute_deltas(channels[-1], self.delta_win_length))
        return torch.cat(channels, dim=-3)


class LearnableSTFT(FrontendLayer):
    """The STFT as a bias-free 1-D convolution whose kernels the network can train.

    With ``init="dft"`` the kernels are the windowed DFT basis and the layer equals
    :class:`Spectrogram` (same ``n_fft``, window, hop, centring); with ``init="random"`` it starts
    from noise of the same scale. ``output`` is ``"power"``, ``"magnitude"`` or ``"complex"`` (2 channels).

    Example:
        >>> stft = LearnableSTFT(n_fft=64, hop_length=16)
        >>> stft(torch.zeros(2, 800)).shape, stft.weight.shape
        (torch.Size([2, 1, 33, 51]), torch.Size([66, 1, 64]))
    """

    def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None,
                 window_fn: str = "hann", center: bool = True, pad_mode: str = "reflect", init: str = "dft",
                 output: str = "power", trainable: bool = True, seed: int = 0):
        super().__init__()
        win_length = win_length or n_fft
        self.hop_length = hop_length or win_length // 2
        Fn.check_stft_args(n_fft, win_length, self.hop_length)
        if init not in ("dft", "random"):
            raise ConfigError(f"init must be 'dft' or 'random', got {init!r}")
        if output not in ("power", "magnitude", "complex"):
            raise ConfigError(f"output must be 'power', 'magnitude' or 'complex', got {output!r}")
        self.n_fft, self.center, self.pad_mode, self.output = n_fft, center, pad_mode, output
        kernels = Fn.dft_kernels(n_fft, Fn.get_window(window_fn, win_length, torch.float64))
        if init == "random":
            generator = torch.Generator().manual_seed(seed)
            kernels = torch.randn(kernels.shape, generator=generator, dtype=torch.float64) * kernels.std()
        weight = kernels.float().unsqueeze(1)  # (2 * freq, 1, n_fft)
        if trainable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight)

    @property
    def geometry(self) -> FrameGeometry:
        return FrameGeometry(self.n_fft, self.hop_length, self.center)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., C, n_fft // 2 + 1, frames)``."""
        shape = waveform.shape
        x = waveform.reshape(-1, 1, shape[-1])
        if self.center:
            half = self.n_fft // 2
            x = nn.functional.pad(x, (half, half), mode=self.pad_mode)
        out = nn.functional.conv1d(x, self.weight, stride=self.hop_length)  # (B, 2 * freq, frames)
        real, imag = out.chunk(2, dim=1)
        if self.output == "complex":
            spec = torch.stack([real, imag], dim=1)  # (B, 2, freq, frames)
        else:
            power = real.square() + imag.square()
            spec = (power if self.output == "power" else power.sqrt()).unsqueeze(1)
        return spec.reshape(shape[:-1] + spec.shape[1:])


class Normalize(FrontendLayer):
    """Feature normalisation to zero mean and unit variance.

    ``mode="utterance"``: each clip's own statistics, per ``(channel, freq)`` row over its frames
    (``per="row"``) or over the whole clip (``per="clip"``, needed when there is one frame, as after
    :class:`FFT`). ``mode="global"``: per-row statistics fitted on the training set with :meth:`fit`
    and kept as buffers (saved with the model).

    Example:
        >>> norm = Normalize("global", channels=1, n_freqs=2)
        >>> _ = norm.fit(torch.tensor([[[[1.0, 3.0], [10.0, 10.0]]]]))
        >>> norm(torch.tensor([[[[3.0], [10.0]]]]))
        tensor([[[[1.],
                  [0.]]]])
    """

    def __init__(self, mode: str = "utterance", per: str = "row", channels: int = 1, n_freqs: int = 1,
                 eps: float = 1e-5):
        super().__init__()
        if mode not in ("utterance", "global"):
            raise ConfigError(f"Normalize mode must be 'utterance' or 'global', got {mode!r}")
        if per not in ("row", "clip"):
            raise ConfigError(f"Normalize per must be 'row' or 'clip', got {per!r}")
        self.mode, self.per, self.eps = mode, per, eps
        self.register_buffer("mean", torch.zeros(channels, n_freqs, 1))
        self.register_buffer("std", torch.ones(channels, n_freqs, 1))

    takes = "features"

    @classmethod
    def shape_arguments(cls, input_shape: tuple[int, ...]) -> dict:
        return {"channels": input_shape[0], "n_freqs": input_shape[1]}

    @property
    def needs_whole_clip(self) -> bool:
        return self.mode == "utterance"

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> Normalize:
        """Fit global statistics on ``(batch, channel, freq, frames)`` training features."""
        if features.shape[-3:-1] != self.mean.shape[:2]:
            raise ConfigError(f"Normalize was built for (channel, freq) = {tuple(self.mean.shape[:2])}, "
                              f"got features with {tuple(features.shape[-3:-1])}")
        self.mean.copy_(features.mean(dim=(0, -1)).unsqueeze(-1))
        self.std.copy_(features.std(dim=(0, -1), correction=0).unsqueeze(-1).clamp(min=self.eps))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., channel, freq, frames)`` in and out."""
        if self.mode == "global":
            return (x - self.mean) / self.std
        dims = (-1,) if self.per == "row" else (-3, -2, -1)
        if self.per == "row" and x.shape[-1] == 1:
            raise ValueError("per-row normalisation over a single frame makes every value 0; use per: clip")
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, correction=0).clamp(min=self.eps)
        return (x - mean) / std


class SpecAugment(FrontendLayer):
    """Random frequency and time masks (Park et al., 2019), applied only in training mode.

    Each clip gets its own masks. In ``eval()`` mode the layer is the identity.
    """

    def __init__(self, freq_mask_param: int = 8, time_mask_param: int = 10, n_freq_masks: int = 2,
                 n_time_masks: int = 2, mask_value: float = 0.0):
        super().__init__()
        self.freq_mask_param, self.time_mask_param = freq_mask_param, time_mask_param
        self.n_freq_masks, self.n_time_masks, self.mask_value = n_freq_masks, n_time_masks, mask_value

    takes = "features"

    def _mask(self, x: torch.Tensor, axis: int, param: int, count: int) -> torch.Tensor:
        size = x.shape[axis]
        batch = x.shape[0]
        for _ in range(count):
            width = torch.randint(0, min(param, size) + 1, (batch,), device=x.device)
            start = (torch.rand(batch, device=x.device) * (size - width + 1)).long()
            pos = torch.arange(size, device=x.device)
            hit = (pos >= start[:, None]) & (pos < (start + width)[:, None])  # (batch, size)
            view = [batch] + [1] * (x.ndim - 1)
            view[axis] = size
            x = x.masked_fill(hit.view(view), self.mask_value)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames)`` in and out; the same mask covers every channel of a clip."""
        if not self.training:
            return x
        x = self._mask(x, x.ndim - 2, self.freq_mask_param, self.n_freq_masks)
        return self._mask(x, x.ndim - 1, self.time_mask_param, self.n_time_masks)


class FrequencyWarp(FrontendLayer):
    """Vocal-tract-length perturbation on features: each clip's frequency axis stretched or squeezed by a
    factor drawn from ``[1 - max_warp, 1 + max_warp]`` (linear interpolation between bins), in training
    mode only; the identity in ``eval()``. After a mel or log-mel layer it warps mel bands, as VTLP
    (Jaitly and Hinton, 2013) warps the filterbank.

    Example:
        >>> warp = FrequencyWarp(max_warp=0.2).eval()
        >>> x = torch.randn(2, 1, 40, 50)
        >>> torch.equal(warp(x), x)
        True
    """

    takes = "features"

    def __init__(self, max_warp: float = 0.1):
        super().__init__()
        if not 0 <= max_warp < 0.5:
            raise ConfigError(f"max_warp must be in [0, 0.5), got {max_warp}")
        self.max_warp = max_warp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, channel, freq, frames)`` in and out: bin ``f`` takes the value at ``f / factor``."""
        if not self.training or not self.max_warp:
            return x
        batch, freqs = x.shape[0], x.shape[-2]
        factor = 1 + (torch.rand(batch, device=x.device) * 2 - 1) * self.max_warp
        source = (torch.arange(freqs, device=x.device)[None, :] / factor[:, None]).clamp(max=freqs - 1)  # (batch, F)
        low = source.floor().long().clamp(max=freqs - 2)
        frac = (source - low).view(batch, 1, freqs, 1)
        index = low.view(batch, 1, freqs, 1).expand(-1, x.shape[1], -1, x.shape[-1])
        return torch.gather(x, -2, index) * (1 - frac) + torch.gather(x, -2, index + 1) * frac
