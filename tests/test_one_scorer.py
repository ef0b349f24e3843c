"""Every door predicts through one scorer: the CLI, the API, the server, the studio's Try and listen give a
run folder and its exported ``.onnx`` the same labels, the same probabilities (within 1e-5) and the same
notes and errors for awkward clips."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import sonogram  # noqa: E402
from sonogram.audio import load  # noqa: E402
from sonogram.cli import main  # noqa: E402
from sonogram.errors import AudioError  # noqa: E402
from sonogram.inference.scorers import open_model  # noqa: E402
from sonogram.inference.streaming import StreamingClassifier  # noqa: E402
from sonogram.network.export import export_run  # noqa: E402
from sonogram.serve.app import create_app  # noqa: E402
from sonogram.serve.config import ServeConfig  # noqa: E402
from sonogram.service.clips import try_file  # noqa: E402
from test_export import _fake_run  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """``{"run": run folder, "onnx": its export}``."""
    run = _fake_run(tmp_path_factory.mktemp("one-scorer"))
    return {"run": run, "onnx": export_run(run, "onnx")[0]}


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_data) -> dict[str, Path]:
    """Two real recordings, one at 16 kHz, a 30 ms clip (mostly padding), a silent one and a broken file."""
    folder = tmp_path_factory.mktemp("clips")
    real = sorted((shared_data / "fsdd" / "recordings").glob("*.wav"))[:2]
    wave16k, _ = load(real[0], 16000)
    soundfile.write(folder / "resampled.flac", wave16k, 16000)
    soundfile.write(folder / "short.wav", wave16k[:480], 16000)
    soundfile.write(folder / "silent.wav", np.zeros(8000, np.float32), 8000)
    (folder / "broken.wav").write_text("no audio here")
    return {"real0": real[0], "real1": real[1], **{p.stem: p for p in sorted(folder.iterdir())}}


def same_answers(by_run: dict, by_onnx: dict) -> None:
    """Two ``{name: (label, probabilities, note)}`` maps agree."""
    assert by_run.keys() == by_onnx.keys()
    for name, (label, probabilities, note) in by_run.items():
        other_label, other_probabilities, other_note = by_onnx[name]
        assert (label, note) == (other_label, other_note), name
        assert max(abs(probabilities[k] - other_probabilities[k]) for k in probabilities) <= TOLERANCE, name


def test_the_notes_say_what_was_done_to_a_clip(models, clips):
    answers = {p.path: p for p in sonogram.load(models["onnx"]).predict_files([clips["short"], clips["silent"]])}
    assert "mostly padding" in answers[str(clips["short"])].note
    assert "silent or constant clip" in answers[str(clips["silent"])].note


def test_cli_predict(models, clips, capsys):
    outcomes = {}
    for kind, model in models.items():
        code = main(["predict", str(model), *map(str, clips.values()), "--json"])
        out, err = capsys.readouterr()
        rows = [json.loads(line) for line in out.splitlines()]
        outcomes[kind] = code, {Path(r["path"]).stem: (r["label"], r["probabilities"], r.get("note")) for r in rows}, err
    (run_code, run_rows, run_err), (onnx_code, onnx_rows, onnx_err) = outcomes["run"], outcomes["onnx"]
    same_answers(run_rows, onnx_rows)
    assert run_code == onnx_code != 0 and run_err == onnx_err and "broken.wav" in run_err
    assert "silent or constant clip" in onnx_rows["silent"][2]
    assert len(run_rows) == len(clips) - 1


def test_python_api(models, clips):
    answers = {}
    for kind, model in models.items():
        results = list(sonogram.load(model).predict_files(list(clips.values())))
        errors = [str(r) for r in results if isinstance(r, AudioError)]
        answers[kind] = errors, {Path(r.path).stem: (r.label, r.probabilities, r.note) for r in results
                                 if not isinstance(r, AudioError)}
    same_answers(answers["run"][1], answers["onnx"][1])
    assert answers["run"][0] == answers["onnx"][0] and len(answers["run"][0]) == 1


def test_server(models, clips):
    answers, errors = {}, {}
    for kind, model in models.items():
        with TestClient(create_app(open_model(model), ServeConfig())) as client:
            replies = {name: client.post("/v1/predict", files={"file": (path.name, path.read_bytes())})
                       for name, path in clips.items()}
        answers[kind] = {name: (r.json()["label"], r.json()["probabilities"], r.json()["note"])
                         for name, r in replies.items() if r.status_code == 200}
        errors[kind] = {name: (r.status_code, r.json()["error"]) for name, r in replies.items() if r.status_code != 200}
    same_answers(answers["run"], answers["onnx"])
    assert errors["run"] == errors["onnx"] and list(errors["run"]) == ["broken"]
    assert "mostly padding" in answers["onnx"]["short"][2] and answers["onnx"]["real0"][2] is None


def test_studio_try(models, clips):
    answers, errors = {}, {}
    for kind, model in models.items():
        answers[kind], errors[kind] = {}, {}
        for name, path in clips.items():
            try:
                result = try_file(model, path)
            except AudioError as exc:
                errors[kind][name] = str(exc)
                continue
            p = result.prediction
            answers[kind][name] = p.label, p.probabilities, p.note
            assert (result.features is None) == (kind == "onnx")  # an .onnx holds its front-end inside
    same_answers(answers["run"], answers["onnx"])
    assert errors["run"] == errors["onnx"] and list(errors["run"]) == ["broken"]


def test_listen(models, clips):
    waveform = np.concatenate([load(clips[name], 8000)[0] for name in ("real0", "real1")])  # longer than a window
    posteriors = {}
    for kind, model in models.items():
        stream = StreamingClassifier.open(model, hop_seconds=0.1)
        times, posteriors[kind] = stream.push(waveform)
    assert posteriors["run"].shape == posteriors["onnx"].shape and len(times) > 0
    assert np.abs(posteriors["run"] - posteriors["onnx"]).max() <= TOLERANCE
