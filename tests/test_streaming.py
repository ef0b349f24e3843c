"""Streaming: the posteriors of streamed windows equal the offline network's on the same windows, for
every kind of front-end; detections from posteriors; audio sources (files, pipes, raw PCM, microphone)."""

import io
import struct

import numpy as np
import pytest
import soundfile
import torch

from sonogram.errors import AudioError, ConfigError
from sonogram.inference.detection import Detection, Detector, DetectorConfig
from sonogram.inference.sources import FileSource, MicrophoneSource, StreamSource
from sonogram.inference.streaming import StreamingClassifier
from sonogram.network.design import DesignConfig, build_network

DESIGNS = {
    "log_mel + utterance norm (the keyword recipes)": dict(
        sample_rate=16000, num_samples=16000, model={"name": "cnn", "channels": [4, 8]},
        frontend=[{"name": "log_mel", "n_fft": 480, "hop_length": 160, "n_mels": 20},
                  {"name": "normalize", "mode": "utterance"}, {"name": "spec_augment"}]),
    "mfcc with deltas": dict(
        sample_rate=8000, num_samples=6000, model={"name": "cnn", "channels": [4]},
        frontend=[{"name": "mfcc", "n_mfcc": 13, "deltas": 2, "melkwargs": {"n_fft": 256, "hop_length": 80}}]),
    "float64 spectrogram, not centred, dB floor": dict(
        sample_rate=8000, num_samples=8000, model={"name": "cnn", "channels": [4]},
        frontend=[{"name": "spectrogram", "n_fft": 256, "hop_length": 64, "center": False, "float64_stft": True},
                  {"name": "amplitude_to_db", "top_db": 80}]),
    "learnable STFT with padding": dict(
        sample_rate=8000, num_samples=4000, model={"name": "cnn", "channels": [4]},
        frontend=[{"name": "learnable_stft", "n_fft": 128, "hop_length": 40, "init": "random"},
                  {"name": "amplitude_to_db"}]),
    "raw waveform (no frames: whole windows)": dict(
        sample_rate=8000, num_samples=4000, model={"name": "mlp", "hidden": [8]},
        frontend=[{"name": "waveform", "normalize": "peak"}]),
}


def _network(design: dict):
    torch.manual_seed(0)
    return build_network(DesignConfig(num_classes=4, **design)).eval()


def _stream(stream: StreamingClassifier, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feed ``x`` in pieces of random length (1 sample to 0.4 s), as a pipe delivers it."""
    rng = np.random.default_rng(seed)
    times, posteriors, i = [], [], 0
    while i < len(x):
        n = int(rng.integers(1, stream.sample_rate // 2.5))
        t, p = stream.push(x[i:i + n])
        times.append(t)
        posteriors.append(p)
        i += n
    return np.concatenate(times), np.concatenate(posteriors)


def _offline(network, x: np.ndarray, times: np.ndarray) -> np.ndarray:
    design = network.design
    ends = np.round(times * design.sample_rate).astype(int)
    windows = torch.from_numpy(np.stack([x[e - design.num_samples:e] for e in ends]))
    with torch.no_grad():
        return network(windows).softmax(-1).numpy()


@pytest.mark.parametrize("name", DESIGNS)
def test_streamed_posteriors_equal_the_offline_network_on_each_window(name):
    design = DESIGNS[name]
    network = _network(design)
    rate = design["sample_rate"]
    x = (0.1 * np.random.default_rng(1).standard_normal(5 * rate)).astype(np.float32)
    x[rate:2 * rate] *= 8  # a loud stretch: per-window floors and normalisation must follow it
    stream = StreamingClassifier.from_network(network, list("abcd"), hop_seconds=0.1)
    times, streamed = _stream(stream, x)
    assert stream.engine == ("windows" if "waveform" in name else "frames")
    hop = stream.hop_seconds
    expected = design["num_samples"] / rate + hop * np.arange(len(times))
    np.testing.assert_allclose(times, expected, atol=1e-9)
    assert times[-1] > 5 - hop - 1e-9  # every window the samples complete has been scored
    np.testing.assert_allclose(streamed, _offline(network, x, times), rtol=1e-5, atol=1e-5)


def test_the_frames_and_windows_engines_agree():
    network = _network(DESIGNS["log_mel + utterance norm (the keyword recipes)"])
    x = (0.1 * np.random.default_rng(2).standard_normal(48000)).astype(np.float32)
    frames = StreamingClassifier.from_network(network, list("abcd"), 0.1, engine="frames")
    windows = StreamingClassifier.from_network(network, list("abcd"), 0.1, engine="windows")
    (t1, p1), (t2, p2) = _stream(frames, x, 3), _stream(windows, x, 4)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-5)


def test_the_hop_is_whole_frames_and_the_engine_is_refused_where_the_front_end_cannot_stream():
    network = _network(DESIGNS["log_mel + utterance norm (the keyword recipes)"])
    assert StreamingClassifier.from_network(network, list("abcd"), 0.104).hop == 160 * 10  # 10 frames of 10 ms
    fft = _network(dict(sample_rate=8000, num_samples=4000, model={"name": "mlp", "hidden": [4]},
                        frontend=[{"name": "fft"}, {"name": "amplitude_to_db"}]))
    with pytest.raises(ConfigError, match=r"FFT\) does not frame the waveform"):
        StreamingClassifier.from_network(fft, list("abcd"), engine="frames")
    assert StreamingClassifier.from_network(fft, list("abcd")).engine == "windows"
    for hop in (0, -1, float("nan"), 11):
        with pytest.raises(ConfigError, match="hop must be"):
            StreamingClassifier.from_network(network, list("abcd"), hop)


def test_a_stream_holds_only_a_window_of_samples_and_refuses_bad_ones():
    network = _network(DESIGNS["log_mel + utterance norm (the keyword recipes)"])
    stream = StreamingClassifier.from_network(network, list("abcd"), 0.1)
    for _ in range(60):
        stream.push(np.zeros(1600, np.float32))
    assert len(stream._buffer) <= 16000 + 1600 and stream._frames.cache.shape[-1] <= 101
    assert stream.windows_scored == 51 and stream.real_time_factor > 0
    with pytest.raises(AudioError, match="NaN or inf"):
        stream.push(np.array([0.0, np.nan], np.float32))
    with pytest.raises(AudioError, match="mono"):
        stream.push(np.zeros((2, 10), np.float32))
    stream.reset()
    assert stream.push(np.zeros(15999, np.float32))[0].size == 0 and stream.push(np.zeros(1, np.float32))[0].size == 1


# --------------------------------------------------------------------------------------------- detection
def _detector(**config) -> Detector:
    return Detector(["_silence_", "_unknown_", "yes", "no"], DetectorConfig(**config), hop_seconds=0.1,
                    window_seconds=1.0)


def _posteriors(*spans: tuple[int, int, int], length: int = 40) -> np.ndarray:
    """Silence everywhere except class ``c`` at windows ``[a, b)`` for each ``(c, a, b)``."""
    p = np.zeros((length, 4))
    p[:, 0] = 1
    for c, a, b in spans:
        p[a:b] = 0
        p[a:b, c] = 1
    return p


def test_one_word_gives_one_detection_when_its_smoothed_score_reaches_the_threshold():
    times = 0.1 * np.arange(1, 41)
    detections = _detector(threshold=0.6, smooth=0.3).update(times, _posteriors((2, 10, 16)))
    # Windows 10-15 (ending at 1.1-1.6 s) hold the word; the mean of the last 3 reaches 2/3 at the second.
    assert detections == [Detection(0.2, 1.2, "yes", pytest.approx(2 / 3))]


def test_refractory_time_background_classes_and_per_class_thresholds():
    times = 0.1 * np.arange(1, 41)
    posteriors = _posteriors((2, 5, 8), (3, 12, 14), (1, 20, 30), (2, 32, 36))
    detections = _detector(threshold=0.9, smooth=0.1, refractory=1.0).update(times, posteriors)
    assert [(d.label, d.end) for d in detections] == [("yes", 0.6), ("yes", 3.3)]  # "no" fell in the quiet second
    detections = _detector(threshold=0.9, smooth=0.1, refractory=0.5).update(times, posteriors)
    assert [(d.label, d.end) for d in detections] == [("yes", 0.6), ("no", 1.3), ("yes", 3.3)]
    detections = _detector(threshold=0.9, thresholds={"no": 1.0, "yes": 0.5}, smooth=0.2, refractory=0.5
                           ).update(times, posteriors)
    assert [(d.label, d.end) for d in detections] == [("yes", 0.6), ("no", 1.4), ("yes", 3.3)]


def test_detections_are_the_same_however_the_posteriors_are_split_across_calls():
    rng = np.random.default_rng(0)
    posteriors = rng.dirichlet(np.ones(4) * 0.3, size=300)
    times = 0.1 * np.arange(1, 301)
    whole = _detector(threshold=0.5, smooth=0.3).update(times, posteriors)
    detector, pieces = _detector(threshold=0.5, smooth=0.3), []
    for a, b in zip([0, 7, 8, 150, 299], [7, 8, 150, 299, 300]):
        pieces += detector.update(times[a:b], posteriors[a:b])
    assert len(whole) > 5 and pieces == whole
    smoothed = detector.smoothed(posteriors)  # the moving mean update() thresholds, for a whole stream at once
    np.testing.assert_allclose(smoothed[10], posteriors[8:11, 2:].mean(axis=0))
    np.testing.assert_allclose(smoothed[0], posteriors[0, 2:])


@pytest.mark.parametrize("config, message", [
    ({"threshold": 0}, "threshold must be"), ({"threshold": 1.5}, "threshold must be"),
    ({"thresholds": {"yes": -1}}, "threshold of 'yes'"), ({"smooth": -1}, "smooth must be"),
    ({"refractory": float("inf")}, "refractory must be"), ({"thresholds": {"maybe": 0.5}}, "lacks: maybe"),
    ({"ignore": ("_silence_", "_unknown_", "yes", "no")}, "nothing to detect"),
])
def test_bad_detector_settings_are_one_clear_error(config, message):
    with pytest.raises(ConfigError, match=message):
        _detector(**config)


# --------------------------------------------------------------------------------------------- sources
class Pipe(io.RawIOBase):
    """A pipe: each read returns at most a few bytes, whatever was asked."""

    def __init__(self, data: bytes, seed: int = 0):
        self.data, self.rng = data, np.random.default_rng(seed)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else len(self.data), int(self.rng.integers(1, 700)))
        out, self.data = self.data[:n], self.data[n:]
        return out

    read1 = read


def _wav_bytes(x: np.ndarray, rate: int, subtype: str = "PCM_16", unknown_length: bool = False) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, x, rate, subtype=subtype, format="WAV")
    data = bytearray(buffer.getvalue())
    if unknown_length:  # as sox and ffmpeg write to a pipe
        data[4:8] = struct.pack("<I", 0xFFFFFFFF)
        at = data.index(b"data")
        data[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_32", "FLOAT", "PCM_U8"])
def test_a_wav_arriving_through_a_pipe_in_small_pieces_decodes_like_the_file(subtype):
    x = np.random.default_rng(0).uniform(-0.9, 0.9, (3001, 2)).astype(np.float32)
    data = _wav_bytes(x, 11025, subtype, unknown_length=True)
    source = StreamSource(Pipe(data))
    got = np.concatenate(list(source.chunks()))
    expected, rate = soundfile.read(io.BytesIO(_wav_bytes(x, 11025, subtype)), dtype="float32")
    assert source.sample_rate == rate == 11025
    np.testing.assert_allclose(got, expected.mean(axis=1), atol=1e-6)


def test_raw_pcm_needs_a_rate_and_a_torn_last_frame_is_dropped():
    pcm = (np.array([[0, 16384], [-32768, 8192]], dtype="<i2").tobytes()) + b"\x01"
    source = StreamSource(Pipe(pcm), sample_rate=8000, sample_format="s16le", channels=2)
    assert np.concatenate(list(source.chunks())).tolist() == [0.25, -0.375]
    with pytest.raises(AudioError, match="not a WAV stream; for raw PCM give --rate"):
        StreamSource(io.BytesIO(pcm))
    with pytest.raises(AudioError, match="no audio arrived"):
        StreamSource(io.BytesIO(b""))
    with pytest.raises(AudioError, match="ended before its audio data"):
        StreamSource(io.BytesIO(_wav_bytes(np.zeros(10), 8000)[:30]))
    for bad in ({"sample_rate": 0}, {"sample_rate": 8000, "sample_format": "s24be"},
                {"sample_rate": 8000, "channels": 0}):
        with pytest.raises(ConfigError):
            StreamSource(io.BytesIO(pcm), **bad)


def test_a_file_is_read_in_chunks_equal_to_the_whole(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, 20000).astype(np.float32)
    soundfile.write(tmp_path / "a.flac", x, 8000)
    source = FileSource(tmp_path / "a.flac", chunk_seconds=0.3)
    chunks = list(source.chunks())
    assert len(chunks) == 9 and source.sample_rate == 8000
    np.testing.assert_array_equal(np.concatenate(chunks), soundfile.read(tmp_path / "a.flac", dtype="float32")[0])
    with pytest.raises(AudioError, match="file not found"):
        FileSource(tmp_path / "missing.wav")


def test_the_microphone_is_one_clear_error_where_there_is_none():
    try:
        MicrophoneSource()
    except ConfigError as exc:
        assert "\n" not in str(exc) and ("mic" in str(exc) or "PortAudio" in str(exc) or "input device" in str(exc))
    else:
        pytest.skip("this machine has a microphone")


def test_a_whole_file_pushed_at_once_is_scored_in_batches_with_the_same_answers():
    network = _network(DESIGNS["mfcc with deltas"])
    x = (0.1 * np.random.default_rng(5).standard_normal(8000 * 40)).astype(np.float32)
    stream = StreamingClassifier.from_network(network, list("abcd"), hop_seconds=0.1)
    times, whole = stream.push(x)  # 0.75 s windows every 0.1 s over 40 s: 393, two batches
    assert len(times) == 393
    np.testing.assert_allclose(whole, _offline(network, x, times), rtol=1e-5, atol=1e-5)
