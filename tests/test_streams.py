"""Long test streams and their scoring: words land where the stream says, at the SNR it says; detections
are matched to words with the stated tolerance; the threshold sweep equals the streaming detector."""

import numpy as np
import pytest

from sonogram.audio import loud_extent
from sonogram.data.streams import NOISE_RMS, SPEECH_DB, StreamConfig, build_stream, joined_noise
from sonogram.errors import ConfigError
from sonogram.evaluate_detections import detection_metrics, match
from sonogram.inference.detection import Detection, Detector, DetectorConfig, sweep_thresholds
from sonogram.reports.det import plot_det

RATE = 8000


def _word(seconds: float, frequency: float, silence: float = 0.3) -> np.ndarray:
    """A tone burst inside ``silence`` seconds of near-silence on each side, like a one-word clip."""
    t = np.arange(int(seconds * RATE)) / RATE
    quiet = np.full(int(silence * RATE), 1e-6, np.float32)
    return np.concatenate([quiet, 0.5 * np.sin(2 * np.pi * frequency * t), quiet]).astype(np.float32)


def _noise(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=int(seconds * RATE)).astype(np.float32)


def test_a_words_extent_is_the_loud_part_of_its_clip():
    start, end = loud_extent(_word(0.4, 440), RATE, SPEECH_DB)
    assert abs(start / RATE - 0.3) <= 0.01 and abs(end / RATE - 0.7) <= 0.01
    assert loud_extent(np.zeros(800, np.float32), RATE, SPEECH_DB) == (0, 0)


def test_every_target_word_lands_at_its_recorded_time_and_snr():
    targets = [(_word(0.3 + 0.1 * i, 300 + 100 * i), f"w{i}") for i in range(5)]
    config = StreamConfig(gap=(0.5, 1.0), snrs_db=(0.0, 20.0), other_share=0.0)
    stream = build_stream(targets, [], _noise(), RATE, config, seed=3)
    assert sorted(w.label for w in stream.words) == [f"w{i}" for i in range(5)]
    starts = [w.start for w in stream.words]
    assert starts == sorted(starts) and stream.words[-1].end + config.gap[1] <= stream.duration + 1e-9
    for word in stream.words:
        i = int(word.label[1:])
        assert word.end - word.start == pytest.approx(0.3 + 0.1 * i, abs=0.011)
        inside = stream.audio[int(word.start * RATE) + 80:int(word.end * RATE) - 80].astype(np.float64)
        level = np.sqrt(np.mean(inside ** 2))  # speech + noise, nearly independent
        expected = NOISE_RMS * np.sqrt(10 ** (word.snr_db / 10) + 1)
        assert level == pytest.approx(expected, rel=0.15), word
        gap_after = stream.audio[int(word.end * RATE) + 600:int(word.end * RATE) + 1000].astype(np.float64)
        assert np.sqrt(np.mean(gap_after ** 2)) == pytest.approx(NOISE_RMS, rel=0.3)  # only the bed between words
    assert {w.snr_db for w in stream.words} <= {0.0, 20.0}


def test_other_words_fill_their_share_and_a_negative_stream_fills_its_length():
    targets = [(_word(0.3, 500), "yes")] * 7
    others = [_word(0.4, 900), _word(0.2, 1200)]
    stream = build_stream(targets, others, _noise(), RATE, StreamConfig(other_share=0.3), seed=0)
    kinds = [w.target for w in stream.words]
    assert kinds.count(True) == 7 and kinds.count(False) == 3 and {w.label for w in stream.words} == {"yes", "_unknown_"}
    negative = build_stream([], others, _noise(), RATE, StreamConfig(), seed=1, min_seconds=60)
    assert 60 <= negative.duration < 60 + 5 and not any(w.target for w in negative.words)
    lengths = {round(w.end - w.start, 2) for w in negative.words}
    assert len(lengths) > 4  # reused words come back at other speeds


def test_streams_are_reproducible_from_the_seed():
    targets, others = [(_word(0.3, 500), "yes")] * 3, [_word(0.4, 900)]
    a = build_stream(targets, others, _noise(), RATE, seed=5)
    b = build_stream(targets, others, _noise(), RATE, seed=5)
    c = build_stream(targets, others, _noise(), RATE, seed=6)
    assert np.array_equal(a.audio, b.audio) and a.words == b.words and a.words != c.words


@pytest.mark.parametrize("bad", [dict(gap=(2.0, 1.0)), dict(snrs_db=()), dict(snrs_db=(float("nan"),)),
                                 dict(other_share=1.0), dict(speed=0.7)])
def test_bad_stream_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        StreamConfig(**bad)


def test_silent_noise_or_nothing_to_place_is_refused():
    with pytest.raises(ConfigError, match="silent"):
        build_stream([(_word(0.3, 500), "yes")], [], np.zeros(100, np.float32), RATE)
    with pytest.raises(ConfigError, match="needs target words"):
        build_stream([], [_word(0.3, 500)], _noise(), RATE)
    with pytest.raises(ConfigError, match="no background noise"):
        joined_noise([np.zeros(10, np.float32)])


def _words():
    from sonogram.data.streams import Word

    return [Word(1.0, 1.5, "yes", True, 0.0), Word(3.0, 3.4, "no", True, 20.0),
            Word(5.0, 5.5, "_unknown_", False, 5.0), Word(7.0, 7.6, "yes", True, 20.0)]


def test_matching_counts_hits_misses_substitutions_and_false_accepts():
    found = [Detection(0.6, 1.6, "yes", 0.9),   # hit, 0.1 s after the word's end
             Detection(0.9, 1.9, "yes", 0.9),   # a second detection of the same word: a false accept
             Detection(2.6, 3.6, "yes", 0.9),   # names the wrong keyword: false accept (and "no" is missed)
             Detection(4.8, 5.8, "no", 0.9),    # on another word: false accept
             Detection(7.6, 8.6, "yes", 0.9)]   # hit, exactly at the tolerance (1 s after the end)
    hits, missed, false_accepts = match(found, _words(), tolerance=1.0)
    assert [(w.start, d.end) for w, d in hits] == [(1.0, 1.6), (7.0, 8.6)]
    assert [w.label for w in missed] == ["no"]
    assert [d.end for d in false_accepts] == [1.9, 3.6, 5.8]
    late = match([Detection(7.7, 8.7, "yes", 0.9)], _words(), tolerance=1.0)
    assert not late[0] and len(late[2]) == 1  # past the tolerance: a false accept, the word a miss
    early = match([Detection(0.0, 0.9, "yes", 0.9)], _words(), tolerance=1.0)
    assert not early[0]  # made before the word began


def test_metrics_give_rates_per_class_and_snr_and_latency():
    found = [Detection(0.6, 1.6, "yes", 0.9), Detection(7.5, 8.0, "yes", 0.9), Detection(10, 11, "no", 0.9)]
    m = detection_metrics(found, _words(), hours=0.5)
    assert (m["words"], m["hits"], m["misses"], m["false_accepts"]) == (3, 2, 1, 1)
    assert m["miss_rate"] == pytest.approx(1 / 3) and m["false_accepts_per_hour"] == 2.0
    assert m["per_class"] == {"no": {"words": 1, "misses": 1, "miss_rate": 1.0},
                              "yes": {"words": 2, "misses": 0, "miss_rate": 0.0}}
    assert m["per_snr_db"]["20.0"] == {"words": 2, "misses": 1, "miss_rate": 0.5}
    assert m["latency_median_s"] == pytest.approx(0.25)


def test_threshold_sweep_equals_the_streaming_detector():
    rng = np.random.default_rng(0)
    labels = ["_silence_", "_unknown_", "yes", "no"]
    logits = rng.normal(size=(3000, 4)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    times = 1.0 + 0.1 * np.arange(3000)
    thresholds = [0.3, 0.55, 0.72, 0.9]
    config = DetectorConfig(smooth=0.3, refractory=0.7)
    swept = sweep_thresholds(Detector(labels, config, 0.1, 1.0), times, probabilities, thresholds)
    for threshold, found in zip(thresholds, swept):
        one = Detector(labels, DetectorConfig(threshold=threshold, smooth=0.3, refractory=0.7), 0.1, 1.0)
        expected = one.update(times, probabilities)
        assert [(d.end, d.label) for d in found] == [(d.end, d.label) for d in expected]
        assert np.allclose([d.score for d in found], [d.score for d in expected])
    assert len(swept[0]) > len(swept[-1]) > 0


def test_det_plot_draws_each_engine_and_the_goal():
    curve = {"threshold": [0.5, 0.8, 0.95], "miss_rate": [0.05, 0.2, 0.6], "false_accepts_per_hour": [30, 3, 0]}
    fig = plot_det({"torch": curve, "onnx": curve}, goal=(1.0, 0.1), marks={"default": 0.8})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_legend().get_texts()] == ["torch", "onnx", "goal"]
    line = ax.get_lines()[0]
    assert line.get_xdata()[-1] == pytest.approx(0.1)  # zero false accepts drawn at the floor


def test_false_accepts_are_told_apart_on_words_and_on_noise():
    from sonogram.evaluate_detections import false_accept_sources

    found = [Detection(4.6, 5.6, "yes", 0.9),   # its window holds the other word at 5.0-5.5
             Detection(6.5, 7.5, "no", 0.9),    # holds the start of "yes" at 7.0
             Detection(5.6, 6.6, "yes", 0.9),   # between words: noise alone
             Detection(8.0, 9.0, "yes", 0.9)]   # after the last word
    sources = false_accept_sources(found, _words())
    assert sources == {"on_words": 2, "on_noise": 2, "per_label": {"yes": 3, "no": 1}}
