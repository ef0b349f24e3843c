"""Front-ends against librosa and scipy. Tolerances, as the issue states them:

- spectrograms: relative error ||ours - ref|| / ||ref|| <= 1e-5 (reference in float64);
- dB log-mel: max |ours - librosa float32| <= 1e-3 dB;
- MFCC: max abs <= 2e-3 (a DCT sums up to 128 dB values, each within 1e-3 dB... in practice far less);
- decimation: max abs 1e-6 against scipy.signal.decimate(ftype="fir") (our FIR taps are stored in float32);
- LearnableSTFT at its DFT init: relative error 1e-6 against Spectrogram (float32 kernels).
"""

import itertools

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from sonogram.features import layers as fe
from sonogram.errors import ConfigError

SPEC_RTOL = 1e-5
DB_ATOL = 1e-3
MFCC_ATOL = 2e-3


def speechlike(sr: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone sweep with noise: energy across the band and a wide dynamic range."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 80 * t
    y = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 12))
    y = y * np.hanning(t.size) + 0.01 * rng.standard_normal(t.size)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def rel_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.linalg.norm(ours.detach().double().numpy() - ref) / np.linalg.norm(ref))


STFT_GRID = [
    dict(n_fft=n_fft, hop_length=hop, win_length=win, window_fn=window, center=center, pad_mode=pad_mode)
    for n_fft, hop, win, window, (center, pad_mode) in itertools.product(
        [256, 512], [64, 160], [None, 200], ["hann", "hamming", "blackman"],
        [(True, "reflect"), (True, "constant"), (False, "reflect")])
]


def definition_stft(y: np.ndarray, n_fft, hop_length, win_length, window_fn, center, pad_mode) -> np.ndarray:
    """The STFT by its definition in float64: pad, frame, window (centred in n_fft), rfft."""
    win_length = win_length or n_fft
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = scipy.signal.get_window(window_fn, win_length, fftbins=True)
    if center:
        y = np.pad(y, n_fft // 2, mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    return np.fft.rfft(frames * window, axis=-1).T


@pytest.mark.parametrize("params", STFT_GRID, ids=lambda p: "-".join(str(v) for v in p.values()))
@pytest.mark.parametrize("power", [1.0, 2.0, 0.7])
def test_spectrogram_matches_librosa(params, power):
    y = speechlike(16000)
    ours = fe.Spectrogram(power=power, **params)(torch.from_numpy(y))[0]
    if params["pad_mode"] == "reflect" and params["center"]:
        # librosa 0.11 pads the tail of a centred STFT in chunks, and for some (n_fft, hop) its last
        # frame differs from np.pad(mode="reflect") (e.g. n_fft=256, hop=160: 1e-4 abs). torch.stft
        # and we follow the definition, so the reference here is the definition itself.
        ref = np.abs(definition_stft(y.astype(np.float64), **params)) ** power
    else:
        ref = np.abs(librosa.stft(y.astype(np.float64), n_fft=params["n_fft"], hop_length=params["hop_length"],
                                  win_length=params["win_length"], window=params["window_fn"], center=params["center"],
                                  pad_mode=params["pad_mode"])) ** power
    assert ours.shape == ref.shape
    assert rel_err(ours, ref) <= SPEC_RTOL


@pytest.mark.parametrize("n_fft,hop", [(256, 64), (400, 160), (512, 256)])
def test_complex_spectrogram_matches_librosa_and_scipy(n_fft, hop):
    y = speechlike(16000)
    ours = fe.Spectrogram(n_fft=n_fft, hop_length=hop, power=None, pad_mode="constant")(torch.from_numpy(y))
    assert ours.shape[0] == 2
    ref = librosa.stft(y.astype(np.float64), n_fft=n_fft, hop_length=hop, pad_mode="constant")
    assert rel_err(ours[0], ref.real) <= SPEC_RTOL and rel_err(ours[1], ref.imag) <= SPEC_RTOL
    # scipy scales by 1 / sum(window) and pads the end to whole segments; compare the common frames
    _, _, zxx = scipy.signal.stft(y.astype(np.float64), nperseg=n_fft, noverlap=n_fft - hop, window="hann",
                                  boundary="zeros", padded=True)
    zxx = zxx * scipy.signal.get_window("hann", n_fft).sum()
    frames = min(zxx.shape[1], ours.shape[2])
    assert rel_err(ours[0, :, :frames], zxx.real[:, :frames]) <= SPEC_RTOL
    assert rel_err(ours[1, :, :frames], zxx.imag[:, :frames]) <= SPEC_RTOL


def test_normalized_spectrogram_divides_by_window_norm():
    y = torch.from_numpy(speechlike(8000))
    plain = fe.Spectrogram(n_fft=256, power=1.0)(y)
    normed = fe.Spectrogram(n_fft=256, power=1.0, normalized=True)(y)
    window = torch.hann_window(256)
    torch.testing.assert_close(normed, plain / window.square().sum().sqrt())


MEL_GRID = [
    dict(sr=sr, n_fft=n_fft, hop=hop, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    for sr, n_fft, hop in [(8000, 256, 80), (16000, 512, 160)]
    for n_mels, fmin, fmax in [(40, 0.0, None), (64, 20.0, 3800.0), (80, 50.0, None)]
    for htk, norm in [(True, None), (False, "slaney"), (True, "slaney")]
]


def _mel_module(p, **extra):
    return dict(sample_rate=p["sr"], n_fft=p["n_fft"], hop_length=p["hop"], n_mels=p["n_mels"], f_min=p["fmin"],
                f_max=p["fmax"], mel_scale="htk" if p["htk"] else "slaney", norm=p["norm"], pad_mode="constant", **extra)


def _librosa_mel(y, p, power=2.0):
    return librosa.feature.melspectrogram(y=y, sr=p["sr"], n_fft=p["n_fft"], hop_length=p["hop"], n_mels=p["n_mels"],
                                          fmin=p["fmin"], fmax=p["fmax"], htk=p["htk"], norm=p["norm"],
                                          pad_mode="constant", power=power)


@pytest.mark.parametrize("p", MEL_GRID, ids=lambda p: "-".join(str(v) for v in p.values()))
def test_mel_and_log_mel_match_librosa(p):
    y = speechlike(p["sr"])
    mel = fe.MelSpectrogram(**_mel_module(p))(torch.from_numpy(y))[0]
    assert rel_err(mel, _librosa_mel(y.astype(np.float64), p)) <= SPEC_RTOL
    log_mel = fe.LogMelSpectrogram(top_db=80.0, **_mel_module(p))(torch.from_numpy(y))[0]
    ref_db = librosa.power_to_db(_librosa_mel(y, p), ref=1.0, top_db=80.0)  # librosa's float32 result
    assert ref_db.dtype == np.float32
    assert np.abs(log_mel.numpy() - ref_db).max() <= DB_ATOL


@pytest.mark.parametrize("top_db", [None, 40.0, 80.0])
def test_amplitude_to_db_matches_librosa(top_db):
    s = np.abs(librosa.stft(speechlike(8000), n_fft=256)) ** 2
    ours = fe.AmplitudeToDB("power", top_db=top_db)(torch.from_numpy(s))
    assert np.abs(ours.numpy() - librosa.power_to_db(s, top_db=top_db)).max() <= DB_ATOL
    mag = np.sqrt(s)
    ours = fe.AmplitudeToDB("magnitude", top_db=top_db)(torch.from_numpy(mag))
    assert np.abs(ours.numpy() - librosa.amplitude_to_db(mag, ref=1.0, top_db=top_db)).max() <= DB_ATOL


@pytest.mark.parametrize("n_mfcc,n_mels,norm", [(13, 40, "ortho"), (20, 64, "ortho"), (40, 40, None), (13, 128, None)])
def test_mfcc_matches_librosa(n_mfcc, n_mels, norm):
    y = speechlike(16000)
    ours = fe.MFCC(sample_rate=16000, n_mfcc=n_mfcc, norm=norm,
                   melkwargs=dict(n_fft=512, hop_length=160, n_mels=n_mels, pad_mode="constant", norm="slaney"))(
        torch.from_numpy(y))[0]
    # librosa.feature.mfcc: power_to_db(melspectrogram(norm="slaney"), top_db=80), then the DCT
    ref = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=n_mfcc, norm=norm, n_fft=512, hop_length=160, n_mels=n_mels,
                               htk=True, pad_mode="constant")
    scale = 1.0 if norm == "ortho" else 2.0 * np.sqrt(n_mels)  # an unnormalised DCT sums n_mels dB values twice
    assert np.abs(ours.numpy() - ref).max() <= MFCC_ATOL * scale


def test_mfcc_deltas_match_librosa():
    y = speechlike(16000)
    mfcc = fe.MFCC(sample_rate=16000, n_mfcc=13, deltas=2, melkwargs=dict(n_fft=512, hop_length=160, n_mels=40))
    out = mfcc(torch.from_numpy(y)).numpy()
    d1 = librosa.feature.delta(out[0], width=5, order=1, mode="nearest")
    d2 = librosa.feature.delta(d1, width=5, order=1, mode="nearest")
    np.testing.assert_allclose(out[1], d1, atol=1e-4)
    np.testing.assert_allclose(out[2], d2, atol=1e-4)


@pytest.mark.parametrize("rate", [2, 3, 6, 16])
def test_decimate_matches_scipy_and_keeps_passband(rate):
    x = np.random.default_rng(rate).standard_normal(48000)
    ours = fe.Decimate(rate).double()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, scipy.signal.decimate(x, rate, ftype="fir"), rtol=0, atol=1e-6)
    # a tone at 40% of the new Nyquist passes with its amplitude; one above the new Nyquist is removed
    sr = 48000
    t = np.arange(sr) / sr
    keep = np.sin(2 * np.pi * 0.4 * (sr / rate / 2) * t)
    alias = np.sin(2 * np.pi * 1.3 * (sr / rate / 2) * t)
    out_keep = fe.Decimate(rate).double()(torch.from_numpy(keep)).numpy()[100:-100]
    out_alias = fe.Decimate(rate).double()(torch.from_numpy(alias)).numpy()[100:-100]
    amplitude = lambda z: np.sqrt(2 * np.mean(z**2))  # noqa: E731 (sine amplitude from its RMS)
    assert abs(amplitude(out_keep) - 1) < 0.01 and amplitude(out_alias) < 0.01


@pytest.mark.parametrize("output", ["magnitude", "power", "complex"])
def test_fft_matches_numpy(output):
    y = speechlike(8000)
    out = fe.FFT(n_fft=4096, output=output)(torch.from_numpy(y)).numpy()[..., 0]
    ref = np.fft.rfft(y.astype(np.float64), n=4096)
    if output == "complex":
        np.testing.assert_allclose(out[0], ref.real, atol=1e-3)
        np.testing.assert_allclose(out[1], ref.imag, atol=1e-3)
    else:
        expected = np.abs(ref) if output == "magnitude" else np.abs(ref) ** 2
        assert rel_err(torch.from_numpy(out[0]), expected) <= SPEC_RTOL


@pytest.mark.parametrize("output,power", [("power", 2.0), ("magnitude", 1.0), ("complex", None)])
@pytest.mark.parametrize("win_length", [None, 200])
def test_learnable_stft_dft_init_equals_spectrogram(output, power, win_length):
    y = torch.from_numpy(speechlike(8000)).double()
    learn = fe.LearnableSTFT(n_fft=256, win_length=win_length, hop_length=80, output=output).double()
    spec = fe.Spectrogram(n_fft=256, win_length=win_length, hop_length=80, power=power).double()
    a, b = learn(y), spec(y)
    assert a.shape == b.shape
    assert float((a - b).detach().norm() / b.norm()) <= 1e-6


def test_learnable_stft_random_init_and_gradient():
    learn = fe.LearnableSTFT(n_fft=64, hop_length=16, init="random")
    dft = fe.LearnableSTFT(n_fft=64, hop_length=16)
    assert not torch.allclose(learn.weight, dft.weight)
    learn(torch.randn(2, 400)).sum().backward()
    assert learn.weight.grad is not None and learn.weight.grad.abs().sum() > 0
    frozen = fe.LearnableSTFT(n_fft=64, hop_length=16, trainable=False)
    assert not list(frozen.parameters()) and "weight" in frozen.state_dict()


def test_top_db_floor_is_per_clip_not_per_batch():
    loud = torch.from_numpy(speechlike(8000, seed=1))
    quiet = 1e-3 * torch.from_numpy(speechlike(8000, seed=2))
    layer = fe.LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40, top_db=40.0)
    batch = layer(torch.stack([loud, quiet]))
    torch.testing.assert_close(batch[1], layer(quiet))
    torch.testing.assert_close(batch[0], layer(loud))


def all_frontends():
    mel = dict(n_fft=128, hop_length=64, n_mels=16)
    return {
        "waveform": fe.Waveform(pre_emphasis=0.97, normalize="rms"),
        "decimate": fe.Decimate(4),
        "fft": fe.FFT(output="magnitude"),
        "spectrogram": fe.Spectrogram(n_fft=128, hop_length=32),
        "complex": fe.Spectrogram(n_fft=128, hop_length=32, power=None),
        "mel": fe.MelSpectrogram(sample_rate=8000, **mel),
        "logmel": fe.LogMelSpectrogram(sample_rate=8000, top_db=80.0, **mel),
        "mfcc": fe.MFCC(sample_rate=8000, n_mfcc=8, deltas=1, melkwargs=mel),
        "learnable": fe.LearnableSTFT(n_fft=64, hop_length=32),
    }


@pytest.mark.parametrize("name", list(all_frontends()))
def test_batch_equals_one_clip_at_a_time_and_leading_dims(name):
    layer = all_frontends()[name]
    x = torch.randn(3, 2, 1000)
    out = layer(x)
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(out[i, j], layer(x[i, j]), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(all_frontends()))
def test_gradcheck_float64(name):
    layer = all_frontends()[name].double()
    x = torch.randn(2, 300, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: layer(w), (x,), eps=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", ["logmel", "mfcc", "complex", "learnable", "decimate"])
def test_export_frontend_with_tiny_model(name):
    layer = all_frontends()[name]
    with torch.no_grad():
        features = layer(torch.zeros(2, 1000))
    model = torch.nn.Sequential(layer, torch.nn.Flatten(), torch.nn.Linear(features[0].numel(), 3)).eval()
    x = torch.randn(2, 1000)
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), model(x))


def test_spec_augment_masks_only_in_training():
    torch.manual_seed(0)
    aug = fe.SpecAugment(freq_mask_param=5, time_mask_param=8, n_freq_masks=1, n_time_masks=1, mask_value=-1.0)
    x = torch.rand(4, 2, 20, 30)
    assert torch.equal(aug.eval()(x), x)
    out = aug.train()(x)
    masked = out == -1.0
    assert masked.any()
    assert torch.equal(masked[:, 0], masked[:, 1])  # same mask on every channel of a clip
    assert not all(torch.equal(masked[0], masked[i]) for i in range(1, 4))  # each clip its own masks


def test_normalize_utterance_and_global():
    x = torch.randn(5, 1, 8, 40) * 3 + 7
    out = fe.Normalize("utterance")(x)
    torch.testing.assert_close(out.mean(-1), torch.zeros(5, 1, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(-1, correction=0), torch.ones(5, 1, 8), atol=1e-4, rtol=0)
    norm = fe.Normalize("global", channels=1, n_freqs=8).fit(x)
    assert "mean" in norm.state_dict()
    pooled = norm(x).transpose(0, 2).reshape(8, -1)
    torch.testing.assert_close(pooled.mean(-1), torch.zeros(8), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="built for"):
        fe.Normalize("global", channels=1, n_freqs=4).fit(x)


@pytest.mark.parametrize("make,message", [
    (lambda: fe.Spectrogram(n_fft=256, win_length=512), "win_length must be in"),
    (lambda: fe.Spectrogram(window_fn="kaiser"), "valid: hann"),
    (lambda: fe.Spectrogram(power=0), "power must be positive"),
    (lambda: fe.MelSpectrogram(sample_rate=8000, f_max=6000), "sample_rate/2"),
    (lambda: fe.MelSpectrogram(mel_scale="bark"), "mel_scale"),
    (lambda: fe.MFCC(n_mfcc=200, melkwargs={"n_mels": 40}), "n_mfcc must be in"),
    (lambda: fe.MFCC(dct_type=3), "dct_type"),
    (lambda: fe.Decimate(0), "rate must be a positive integer"),
    (lambda: fe.FFT(output="phase"), "FFT output"),
    (lambda: fe.LearnableSTFT(init="zeros"), "init must be"),
])
def test_invalid_arguments_name_the_value(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", list(all_frontends()))
def test_cuda_matches_cpu(name):
    layer = all_frontends()[name]
    x = torch.randn(4, 2000)
    torch.testing.assert_close(layer.cuda()(x.cuda()).cpu(), layer.cpu()(x), rtol=1e-4, atol=1e-3)


def test_normalize_per_clip_uses_all_values():
    x = torch.randn(3, 2, 5, 1) * 4 + 7
    out = fe.Normalize("utterance", per="clip")(x)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3), correction=0), torch.ones(3), atol=1e-4)
    with pytest.raises(ValueError, match="use per: clip"):
        fe.Normalize("utterance")(x)
