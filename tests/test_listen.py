"""`sonogram listen` end to end: a tiny keyword model trained for seconds on tone-burst "words" with a
`_silence_` and an `_unknown_` class finds the words of a long stream at the right times, from a file
and from a pipe, and stays quiet on noise alone."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from tone_words import RATE, WORDS, background_noise, tone_burst

def _long_stream(seed: int, words: list[tuple[str, float]], seconds: float) -> tuple[np.ndarray, list]:
    """Noise for ``seconds`` with each ``(word, start)`` burst added; returns the stream and (word, start, end)."""
    rng = np.random.default_rng(seed)
    x = background_noise(rng, int(seconds * RATE), 0.01)
    events = []
    for word, start in words:
        burst = tone_burst(rng, word)
        at = int(start * RATE)
        x[at:at + len(burst)] += burst
        events.append((word, start, start + len(burst) / RATE))
    return x, events


def _listen(*args: str, stdin: bytes | None = None) -> tuple[list[dict], str]:
    done = subprocess.run([sys.executable, "-m", "sonogram", "listen", *args], input=stdin, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()], done.stderr.decode()


@pytest.mark.slow
def test_a_stream_of_known_words_gives_those_words_at_the_right_times(kws_run, tmp_path):
    x, events = _long_stream(1, [("high", 2.0), ("_unknown_", 4.5), ("low", 7.0), ("high", 10.0)], 13.0)
    soundfile.write(tmp_path / "long.wav", x, RATE)
    detections, log = _listen(str(kws_run), str(tmp_path / "long.wav"))
    assert "frames engine" in log and "real-time factor" in log
    assert [d["label"] for d in detections] == ["high", "low", "high"]
    targets = [e for e in events if e[0] != "_unknown_"]
    for detection, (word, start, end) in zip(detections, targets):
        assert start < detection["end"] <= end + 1.0  # made while the word was in the window, within a second
        assert detection["end"] - detection["start"] == pytest.approx(1.0) and 0.8 <= detection["score"] <= 1


@pytest.mark.slow
def test_standard_input_as_wav_or_raw_pcm_gives_the_same_detections_as_the_file(kws_run, tmp_path):
    x, _ = _long_stream(2, [("low", 1.5), ("high", 4.0)], 6.0)
    soundfile.write(tmp_path / "a.wav", x, RATE)
    from_file, _ = _listen(str(kws_run), str(tmp_path / "a.wav"))
    from_wav, _ = _listen(str(kws_run), "-", stdin=(tmp_path / "a.wav").read_bytes())
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    from_raw, _ = _listen(str(kws_run), "-", "--rate", str(RATE), "--format", "s16le", stdin=pcm)
    assert [d["label"] for d in from_file] == ["low", "high"]
    assert from_wav == from_file and [d["label"] for d in from_raw] == ["low", "high"]
    # At 16 kHz the same audio is resampled to the model's rate as it arrives: the same words, same times.
    import soxr

    soundfile.write(tmp_path / "b.wav", soxr.resample(x, RATE, 16000), 16000)
    resampled, log = _listen(str(kws_run), str(tmp_path / "b.wav"))
    assert "16000 Hz -> 8000 Hz" in log
    assert [(d["label"], d["end"]) for d in resampled] == [(d["label"], d["end"]) for d in from_file]


@pytest.mark.slow
def test_the_frames_plot_and_the_try_page_mark_the_detections(kws_run, tmp_path):
    from sonogram.reports import plots
    from sonogram.service.clips import try_file
    from sonogram.service.prediction import frame_probabilities

    x, _ = _long_stream(4, [("low", 1.0), ("high", 3.5)], 5.0)
    soundfile.write(tmp_path / "two.wav", x, RATE)
    panel = frame_probabilities([kws_run], tmp_path / "two.wav", 0.05).panels[0]
    assert [d.label for d in panel.detections] == ["low", "high"]
    assert [d.label for d in try_file(kws_run, tmp_path / "two.wav").detections] == ["low", "high"]
    fig = plots.plot_frames([panel.plotted()], x, RATE, "two.wav")
    assert fig.axes[0].get_title().endswith("heard: low high")
    assert [t.get_text().strip() for t in fig.axes[0].get_legend().get_texts()] == sorted([*WORDS, "_silence_"])
    assert [t.get_text() for t in fig.axes[-1].texts] == [f"{d.label} {d.score:.2f}" for d in panel.detections]
    plots.save(fig, tmp_path / "frames.png")
    assert (tmp_path / "frames.png").stat().st_size > 10_000


@pytest.mark.slow
def test_noise_alone_gives_no_detection_at_the_default_threshold(kws_run, tmp_path):
    rng = np.random.default_rng(3)
    x = np.concatenate([background_noise(rng, 5 * RATE, level) for level in (0.003, 0.03, 0.1)])
    soundfile.write(tmp_path / "noise.wav", x, RATE)
    detections, log = _listen(str(kws_run), str(tmp_path / "noise.wav"), "--frames")
    frames = [d for d in detections if "time" in d]
    assert not [d for d in detections if "label" in d] and "0 detections in 15.0 s" in log
    # Windows end every 0.1 s from 1 s to 15 s, and on through the half-second of silence that ends a stream.
    assert [f["time"] for f in frames] == [round(1 + 0.1 * i, 3) for i in range(146)]
    assert set(frames[0]["probabilities"]) == {*WORDS, "_silence_"}


@pytest.mark.parametrize("args, message", [
    ([], "give one source"), (["x.wav", "--mic"], "give one source"),
    (["x.wav", "--rate", "8000"], "describe raw PCM on standard input"),
    (["x.wav", "--threshold", "2"], "threshold must be a number in (0, 1]"),
    (["x.wav", "--class-threshold", "yes"], "expected LABEL=P"),
    (["missing.wav"], "missing.wav: file not found"),
])
def test_bad_listen_arguments_are_one_clear_line(finished_tiny_run, tmp_path, args, message):
    args = [str(tmp_path / a) if a.endswith(".wav") else a for a in args]
    done = subprocess.run([sys.executable, "-m", "sonogram", "listen", str(finished_tiny_run), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and message in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
