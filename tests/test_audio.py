import numpy as np
import pytest
import soundfile as sf

from sonogram.audio import AudioError, fix_length, info, load, normalize, resample

RATE = 8000


@pytest.fixture
def tone():
    t = np.arange(RATE) / RATE
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1e-2), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-7),
                                         ("FLOAT", 0), ("DOUBLE", 0)])
def test_wav_sample_formats_decode_to_float32(tmp_path, tone, subtype, tol):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, tone, RATE, subtype=subtype)
    waveform, rate = load(path)
    assert rate == RATE and waveform.dtype == np.float32 and waveform.shape == tone.shape
    np.testing.assert_allclose(waveform, tone, atol=tol)


@pytest.mark.parametrize("ext", ["flac", "ogg"])
def test_flac_and_ogg(tmp_path, tone, ext):
    sf.write(tmp_path / f"a.{ext}", tone, RATE)
    waveform, _ = load(tmp_path / f"a.{ext}")
    assert waveform.shape[0] == RATE
    assert np.corrcoef(waveform, tone)[0, 1] > 0.99


def test_stereo_is_downmixed_to_mean(tmp_path, tone):
    sf.write(tmp_path / "s.wav", np.stack([tone, np.zeros_like(tone)], axis=1), RATE, subtype="FLOAT")
    waveform, _ = load(tmp_path / "s.wav")
    np.testing.assert_allclose(waveform, tone / 2, atol=1e-7)


def test_resample_keeps_duration_and_tone(tmp_path, tone):
    sf.write(tmp_path / "a.wav", tone, RATE, subtype="FLOAT")
    waveform, rate = load(tmp_path / "a.wav", 16000)
    assert rate == 16000 and waveform.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(waveform))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) <= 1


def test_segment_read(tmp_path, tone):
    sf.write(tmp_path / "a.wav", tone, RATE, subtype="FLOAT")
    waveform, _ = load(tmp_path / "a.wav", start=0.25, duration=0.5)
    np.testing.assert_array_equal(waveform, tone[2000:6000])


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d, b: d / "missing.wav", "file not found"),
        (lambda d, b: _write_bytes(d / "empty.wav", b""), "empty file"),
        (lambda d, b: _write_bytes(d / "trunc.wav", b[: len(b) // 2]), "truncated"),
        (lambda d, b: _write_bytes(d / "header.wav", b[:44]), "truncated"),
        (lambda d, b: _write_bytes(d / "text.wav", b"this is a text file, not audio\n" * 20), "not a readable audio file"),
        (lambda d, b: _write_bytes(d / "garbage.flac", bytes(range(256)) * 8), "not a readable audio file"),
        (lambda d, b: d, "is a folder"),
    ],
)
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, tone, make, message):
    sf.write(tmp_path / "good.wav", tone, RATE, subtype="PCM_16")
    path = make(tmp_path, (tmp_path / "good.wav").read_bytes())
    with pytest.raises(AudioError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)


def test_zero_length_signal(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), RATE)
    with pytest.raises(AudioError, match="zero-length"):
        load(tmp_path / "zero.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, tone, bad):
    tone[100] = bad
    sf.write(tmp_path / "nan.wav", tone, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load(tmp_path / "nan.wav")


def test_file_longer_than_maximum_is_refused_before_decoding(tmp_path, tone):
    sf.write(tmp_path / "long.wav", np.tile(tone, 3), RATE)
    assert info(tmp_path / "long.wav").seconds == 3.0
    with pytest.raises(AudioError, match="over the 2 s limit"):
        load(tmp_path / "long.wav", max_seconds=2)


@pytest.mark.parametrize("rate", [0, -8000, 8000.5])
def test_invalid_target_rate(tmp_path, tone, rate):
    sf.write(tmp_path / "a.wav", tone, RATE)
    with pytest.raises(AudioError, match="sample_rate must be a positive integer"):
        load(tmp_path / "a.wav", rate)


def test_resample_identity():
    x = np.arange(10, dtype=np.float32)
    assert resample(x, 8000, 8000) is x


def test_fix_length_center_and_left():
    x = np.arange(1, 7, dtype=np.float32)
    assert fix_length(x, 4, "center").tolist() == [2, 3, 4, 5]
    assert fix_length(x, 4, "left").tolist() == [1, 2, 3, 4]
    assert fix_length(x, 9, "center").tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 0]
    assert fix_length(x, 8, "left").tolist() == [1, 2, 3, 4, 5, 6, 0, 0]
    with pytest.raises(ValueError, match="align"):
        fix_length(x, 4, "right")


def test_normalize_peak_rms_and_silence():
    x = np.array([0.1, -0.5, 0.25], dtype=np.float32)
    assert np.abs(normalize(x, "peak")).max() == pytest.approx(1.0)
    assert np.sqrt(np.mean(normalize(x, "rms", 0.1) ** 2)) == pytest.approx(0.1, rel=1e-6)
    silence = np.zeros(4, np.float32)
    np.testing.assert_array_equal(normalize(silence, "peak"), silence)
    with pytest.raises(ValueError, match="mode"):
        normalize(x, "loudness")
