"""Generated audio bytes: random, truncated and bit-flipped WAV/FLAC/OGG written with soundfile then
damaged. Through ``audio.load``, the Predictor and ``sonogram predict`` the only outcomes are a
finite prediction or an :class:`AudioError`, and a damaged file never passes for a shorter one.
"""

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonogram.audio import load
from sonogram.cli import main
from sonogram.errors import AudioError
from sonogram.inference.predictor import Prediction, Predictor

FORMATS = {"wav16": ("wav", "PCM_16"), "wavfloat": ("wav", "FLOAT"), "wav24": ("wav", "PCM_24"),
           "flac": ("flac", "PCM_16"), "ogg": ("ogg", "VORBIS")}


def encoded(kind: str, seconds: float = 0.4, rate: int = 8000) -> bytes:
    fmt, subtype = FORMATS[kind]
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format=fmt.upper(), subtype=subtype)
    return buffer.getvalue()


CLEAN = {kind: encoded(kind) for kind in FORMATS}


@st.composite
def damaged(draw):
    kind = draw(st.sampled_from(sorted(FORMATS)))
    data = bytearray(CLEAN[kind])
    how = draw(st.sampled_from(["truncate", "flip", "random", "splice"]))
    if how == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 16))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif how == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=4096)))
    else:  # a valid header followed by noise
        keep = draw(st.integers(4, 64))
        data = data[:keep] + bytearray(draw(st.binary(min_size=0, max_size=2048)))
    return kind, how, bytes(data)


def write(data: bytes, kind: str) -> Path:
    path = Path(tempfile.mkdtemp()) / f"clip.{FORMATS[kind][0]}"
    path.write_bytes(data)
    return path


def check_prediction(result, labels) -> None:
    assert isinstance(result, (Prediction, AudioError)), result
    if isinstance(result, Prediction):
        assert result.label in labels
        values = np.array(list(result.probabilities.values()))
        assert np.isfinite(values).all() and abs(values.sum() - 1) < 1e-3


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(case=damaged())
def test_damaged_files_load_or_raise_audio_error(case):
    kind, how, data = case
    path = write(data, kind)
    try:
        waveform, rate = load(path)
    except AudioError as exc:
        assert str(path) in str(exc)
        return
    assert waveform.dtype == np.float32 and waveform.ndim == 1 and waveform.size > 0 and rate > 0
    assert np.isfinite(waveform).all()
    if how == "truncate":  # a cut file never passes for a complete, shorter recording
        pytest.fail(f"a {kind} file cut to {len(data)} of {len(CLEAN[kind])} bytes loaded as {waveform.size} samples")


@pytest.fixture(scope="module")
def predictor(finished_tiny_run) -> Predictor:
    return Predictor.open(finished_tiny_run)


@FUZZ
@given(case=damaged())
def test_damaged_files_predict_or_raise_audio_error(case, predictor):
    kind, _, data = case
    results = list(predictor.predict_files([write(data, kind)]))
    assert len(results) == 1
    check_prediction(results[0], predictor.labels)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(damaged(), min_size=1, max_size=4))
def test_predict_command_answers_each_file(cases, finished_tiny_run, capsys):
    paths = [write(data, kind) for kind, _, data in cases]
    capsys.readouterr()
    code = main(["predict", str(finished_tiny_run), *map(str, paths), "--json"])
    out, err = capsys.readouterr()
    answers = [json.loads(line) for line in out.splitlines()]
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert "Traceback" not in err
    assert len(answers) + len(errors) == len(paths), (out, err)
    assert code == (1 if errors else 0)
    for answer in answers:
        assert np.isfinite(list(answer["probabilities"].values())).all()


def test_every_clean_format_predicts(predictor):
    for kind, data in CLEAN.items():
        [result] = predictor.predict_files([write(data, kind)])
        assert isinstance(result, Prediction), (kind, result)


def float_wav(waveform: np.ndarray, name: str) -> Path:
    path = Path(tempfile.mkdtemp()) / name
    soundfile.write(path, waveform.astype(np.float32), 8000, subtype="FLOAT")
    return path


def test_overflowing_samples_are_that_files_error_not_the_models(predictor):
    good, huge, after = (float_wav(np.sin(np.arange(3200) / 5) * 0.5, "good.wav"),
                         float_wav(np.full(3200, 3e38), "huge.wav"), float_wav(np.sin(np.arange(3200) / 7), "after.wav"))
    results = list(predictor.predict_files([good, huge, after]))
    assert [type(r).__name__ for r in results] == ["Prediction", "AudioError", "Prediction"]
    assert "huge.wav: the network's scores overflow on this clip" in str(results[1])
    with pytest.raises(AudioError, match="clip 0: the network's scores overflow"):
        predictor.predict([np.full(3200, 3e38, np.float32)])


@pytest.mark.parametrize("waveform, note", [
    (np.zeros(3200), "silent or constant clip"), (np.full(3200, 0.3), "silent or constant clip"),
    (np.array([0.5]), "only 1 sample (0.1 ms)"), (np.sin(np.arange(200) / 3), "only 200 samples (25.0 ms)"),
    (np.sin(np.arange(8000) / 3), "1.00 s clip cut to the model's 0.40 s input (center)"),
])
def test_meaningless_clips_get_a_prediction_with_a_note(predictor, finished_tiny_run, capsys, waveform, note):
    [result] = predictor.predict_files([float_wav(waveform, "clip.wav")])
    assert isinstance(result, Prediction) and note in result.note
    assert main(["predict", str(finished_tiny_run), str(float_wav(waveform, "clip.wav")), "--json"]) == 0
    out, err = capsys.readouterr()
    assert note in json.loads(out)["note"] and ": note: " in err


def test_an_ordinary_clip_has_no_note(predictor):
    [result] = predictor.predict([np.sin(np.arange(3200) / 5) * 0.5], sample_rate=8000)
    assert result.note is None
