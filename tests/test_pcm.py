"""The cache's fast WAV path: sample-for-sample equal to sonogram.audio.load, or None for anything it does not handle."""

import struct

import numpy as np
import pytest
import soundfile

from sonogram.audio import AudioError, fix_length, load
from sonogram.data import WaveformSpec, build_cache, load_dataset
from sonogram.data import cache as cache_module
from sonogram.data.pcm import read_wav
from sonogram.data.synth import write_fsdd


def _signal(channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.standard_normal((800, channels)) * 0.3, -1, 0.99)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2])
def test_plain_wav_equals_libsndfile(tmp_path, subtype, channels):
    path = tmp_path / "x.wav"
    soundfile.write(path, _signal(channels), 8000, subtype=subtype)
    waveform, rate = read_wav(path)
    expected, expected_rate = load(path)
    assert rate == expected_rate == 8000
    np.testing.assert_array_equal(waveform, expected)
    segment, _ = read_wav(path, start=0.01, duration=0.02)
    np.testing.assert_array_equal(segment, load(path, start=0.01, duration=0.02)[0])


def test_extensible_header_is_read(tmp_path):
    samples = (_signal(2) * 32767).astype("<i2").tobytes()
    guid = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 16000, 64000, 4, 16, 22, 16, 3) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    waveform, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_array_equal(waveform, load(path)[0])


def test_everything_unusual_is_left_to_load(tmp_path):
    soundfile.write(tmp_path / "24.wav", _signal(), 8000, subtype="PCM_24")
    soundfile.write(tmp_path / "x.flac", _signal(), 8000)
    nan = _signal().astype(np.float32)
    nan[5] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, 8000, subtype="FLOAT")
    soundfile.write(tmp_path / "full.wav", _signal(), 8000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:-100])
    (tmp_path / "empty.wav").write_bytes(b"")
    for name in ["24.wav", "x.flac", "nan.wav", "cut.wav", "empty.wav", "missing.wav"]:
        assert read_wav(tmp_path / name) is None, name
    assert read_wav(tmp_path / "full.wav", max_seconds=0.05) is None
    assert read_wav(tmp_path / "full.wav", start=1.0) is None


@pytest.fixture
def corpus(tmp_path):
    write_fsdd(tmp_path / "data", speakers=["ann", "bob", "cy"], takes=1, seconds=0.1)
    return load_dataset("fsdd", tmp_path / "data")


def test_parallel_build_equals_serial_and_keeps_order(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "BLOCK", 16)  # 30 clips: two blocks, the second one short
    spec = WaveformSpec(16000, 2000)
    parallel = np.array(build_cache(corpus, spec, tmp_path / "parallel", workers=2))
    expected = np.stack([fix_length(load(clip.path, 16000)[0], 2000) for clip in corpus.clips])
    np.testing.assert_array_equal(parallel, expected)
    np.testing.assert_array_equal(np.array(build_cache(corpus, spec, tmp_path / "serial", workers=1)), expected)


def test_parallel_build_stops_at_a_bad_file(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "BLOCK", 16)
    bad = corpus.clips[20].path  # in the second block
    with open(bad, "wb") as f:
        f.write(b"RIFF" + b"\0" * 40)
    with pytest.raises(AudioError, match=bad):
        build_cache(corpus, WaveformSpec(8000, 800), tmp_path / "c", workers=2)
    assert not list((tmp_path / "c").glob("*.npy"))
