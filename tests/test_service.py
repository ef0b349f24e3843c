"""The service layer every door calls: background jobs with progress and stop, bit-identical resume,
validation before side effects, design descriptions as data, evaluation against the recorded data,
batched prediction and the public API."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile
import torch

import sonogram
from sonogram.cli import main
from sonogram.data.synth import tone_clip
from sonogram.errors import ConfigError, Interrupted, RunError
from sonogram.recipe import recipe_from_dict
from sonogram.runs import Run
from sonogram.service import results, training
from sonogram.service.designs import describe_design


def epochs_of(job_events):
    return [e["epoch"] for e in job_events if e["event"] == "epoch"]


@pytest.mark.slow
def test_a_background_job_streams_epochs_stops_and_resumes(tiny_recipe, tmp_path, training_gates):
    epoch_end, evaluation = training_gates
    evaluation.open()
    recipe = recipe_from_dict(tiny_recipe)
    job = training.start_training(recipe, tmp_path / "run")
    epoch_end.wait_until_held()  # epoch 1 is written and checkpointed; its end waits for the test
    assert job.phase == "training" and job.stop() and job.stop_requested
    epoch_end.open()
    assert job.wait(120) == "stopped"
    seen = job.history
    assert seen[0] == {"event": "started", "run": str(tmp_path / "run")}
    assert epochs_of(seen) == [1]
    assert "stopped after epoch 1; continue with: sonogram train --resume" in seen[-1]["message"]
    event = next(e for e in seen if e["event"] == "epoch")
    assert set(event) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1", "lr", "seconds"}
    assert Run(tmp_path / "run").state == "resumable"
    assert not job.stop()  # the job has ended: nothing to stop

    resumed = training.start_resume(tmp_path / "run")
    assert resumed.wait(120) == "finished", resumed.error
    assert epochs_of(resumed.history) == [2, 3, 4]
    assert resumed.history[-2] == {"event": "evaluating", "fold": "official"}
    assert resumed.history[-1]["result"]["test"]["accuracy"] > 0.5
    assert Run(tmp_path / "run").state == "finished" and (tmp_path / "run" / "report.html").is_file()


@pytest.mark.slow
def test_a_stop_after_the_final_evaluation_began_is_refused_and_the_run_finishes(tiny_recipe, tmp_path,
                                                                                  training_gates):
    epoch_end, evaluation = training_gates
    epoch_end.open()
    job = training.start_training(recipe_from_dict(tiny_recipe), tmp_path / "run")
    evaluation.wait_until_held()  # every epoch is done; the evaluation waits for the test
    assert job.phase == "evaluating" and not job.stop() and not job.stop_requested
    evaluation.open()
    assert job.wait(120) == "finished", job.error
    assert Run(tmp_path / "run").state == "finished"


@pytest.mark.slow
def test_a_stop_between_the_last_epoch_and_the_evaluation_leaves_the_evaluation_to_resume(tiny_recipe, tmp_path):
    stop = threading.Event()

    def stop_once_trained(event):  # the last epoch's stop check has passed; the evaluation has not begun
        if event["event"] == "epoch" and event["epoch"] == tiny_recipe["train"]["epochs"]:
            stop.set()

    with pytest.raises(Interrupted, match="stopped after epoch 4"):  # the last epoch still reads it
        training.train(recipe_from_dict(tiny_recipe), tmp_path / "at-last-epoch", progress=stop_once_trained,
                       stop=stop)
    stop.clear()
    late = []

    def stop_while_announcing(event):
        late.append(event["event"])
        if event["event"] == "evaluating":
            stop.set()

    with pytest.raises(Interrupted, match="before the final evaluation"):
        training.train(recipe_from_dict(tiny_recipe), tmp_path / "run", progress=stop_while_announcing, stop=stop)
    assert late[-1] == "evaluating" and Run(tmp_path / "run").state == "resumable"
    events = []
    resumed = training.resume(tmp_path / "run", progress=events.append, report=False)  # the evaluation alone
    assert [e["event"] for e in events] == ["started", "evaluating"] and resumed.metrics["epochs"] == 4
    assert Run(tmp_path / "run").state == "finished"


@pytest.mark.slow
def test_a_stop_during_a_folds_evaluation_still_stops_a_cross_validation_with_folds_to_come(tiny_recipe, tmp_path,
                                                                                           training_gates):
    epoch_end, evaluation = training_gates
    epoch_end.open()
    tiny_recipe["dataset"]["split"], tiny_recipe["train"]["epochs"] = "loso", 2
    job = training.start_cross_validation(recipe_from_dict(tiny_recipe), tmp_path / "cv")
    evaluation.wait_until_held()  # fold 1 of 3 is trained; folds follow, so a stop still applies
    assert job.phase == "training" and job.stop()
    evaluation.open()
    assert job.wait(120) == "stopped", job.error
    assert "cross-validation stopped in fold 2/3" in job.history[-1]["message"]
    assert [e for e in job.history if e["event"] == "evaluating"] == [
        {"event": "evaluating", "fold": "speaker-ann", "more_folds": True}]
    assert epochs_of(job.history) == [1, 2, 1]  # fold 2 stopped after its first epoch


@pytest.mark.slow
def test_resume_is_bit_identical_to_an_uninterrupted_run(tiny_recipe, tmp_path):
    tiny_recipe["design"]["model"]["dropout"] = 0.3  # the global torch generator matters too
    tiny_recipe["augment"]["noise_prob"] = 0.5
    whole = training.train(recipe_from_dict(tiny_recipe), tmp_path / "whole", report=False)

    stop = threading.Event()

    def stop_after_two(event):
        if event["event"] == "epoch" and event["epoch"] == 2:
            stop.set()

    with pytest.raises(Interrupted, match="stopped after epoch 2"):
        training.train(recipe_from_dict(tiny_recipe), tmp_path / "split", progress=stop_after_two, stop=stop)
    resumed = training.resume(tmp_path / "split", report=False)

    first, second = torch.load(whole.run_dir / "model.pt"), torch.load(resumed.run_dir / "model.pt")
    for key, value in first["state_dict"].items():
        assert torch.equal(value, second["state_dict"][key]), key
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(Run(whole.run_dir).history()) == strip(Run(resumed.run_dir).history())
    assert whole.metrics["test"] == resumed.metrics["test"]


def test_bad_settings_are_refused_before_anything_is_written(recipe_file, tmp_path, capsys):
    for setting, message in [
        ("train.batch_size=0", "train.batch_size must be at least 1, got 0"),
        ("train.epochs=-1", "train.epochs must be at least 1, got -1"),
        ("optim.lr=0", "optim.lr must be above 0.0, got 0"),
        ("optim.lr=.nan", "optim.lr must be a finite number"),
        ("optim.label_smoothing=2", "optim.label_smoothing must be below 1.0, got 2"),
        ("design.num_samples=0", "design.num_samples must be at least 1, got 0"),
        ("design.frontend.0.n_fft=0", "n_fft must be a positive integer, got 0"),
        ("design.model.name=bogus", "unknown model 'bogus'"),
        ("train.precision=bogus", "precision='bogus'"),
        ("train.devices=0", "devices=0"),
        ("train.accelerator=gpu", "accelerator='gpu'"),
    ]:
        out = tmp_path / "run"
        assert main(["train", str(recipe_file), "--set", setting, "--out", str(out)]) == 2, setting
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (setting, err)
        assert not out.exists(), setting
    assert not (tmp_path / "runs").exists()


def test_out_pointing_at_a_file_is_one_clear_error(recipe_file, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert main(["train", str(recipe_file), "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "keep me"


def test_divergence_stops_training_with_a_clear_error(recipe_file, tmp_path, monkeypatch, capsys):
    from sonogram.engine.train import Classifier

    original = Classifier.training_step
    monkeypatch.setattr(Classifier, "training_step", lambda self, batch, i: original(self, batch, i) * float("nan"))
    assert main(["train", str(recipe_file), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "training diverged: the loss is nan in epoch 1" in err and "lower optim.lr" in err
    assert not (tmp_path / "run" / "model.pt").exists() and not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_train_json_is_valid_and_progress_goes_to_stderr(recipe_file, tmp_path, capfd):
    code = subprocess.run([sys.executable, "-m", "sonogram", "train", str(recipe_file), "--set", "train.progress=true",
                           "--out", str(tmp_path / "run"), "--json"], capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    metrics = json.loads(code.stdout)
    assert metrics["epochs"] == 4 and 0 <= metrics["test"]["accuracy"] <= 1
    lines = code.stderr.strip().splitlines()
    epoch_lines = [line for line in lines if line.strip().startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert not any("GPU available" in line or "Tip" in line or "LOCAL_RANK" in line for line in lines), lines
    assert len(lines) == len(set(lines)), "a line printed twice"
    run = tmp_path / "run"
    assert not (run / "tensorboard" / "checkpoints").exists() and not list(run.rglob("epoch=*.ckpt"))
    info = json.loads((run / "run.json").read_text())
    assert info["sonogram"] == sonogram.__version__ and info["torch"] == torch.__version__
    assert info["command"].startswith("sonogram train") and info["finished"] and info["device"] == "cpu"
    assert info["classes"] == [str(d) for d in range(10)] and info["parts"]["test"]["clips"] == 150


def test_design_descriptions_carry_errors_as_data():
    valid = describe_design({"sample_rate": 8000, "num_samples": 8000, "num_classes": 10,
                             "frontend": [{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 40}],
                             "model": {"name": "cnn", "channels": [8, 16]}})
    assert valid.valid and valid.feature_shape == [1, 40, 101]
    assert valid.rows[0]["window"] == 256 and valid.rows[0]["hop"] == 80 and valid.rows[0]["needs_whole_clip"]
    assert valid.params == sum(row["params"] for row in valid.rows)
    broken = describe_design({"sample_rate": 8000, "num_samples": 8000, "num_classes": 10,
                              "frontend": [{"name": "log_mel", "n_mels": 0}], "model": {"name": "cnn"}})
    assert broken.errors == [{"key": "frontend.0", "message": "frontend.0 (log_mel): n_mels must be positive, got 0"}]
    wrong_key = describe_design({"frontend": [{"name": "log_mel"}], "model": {"name": "cnn", "chanels": [4]}})
    assert wrong_key.errors[0]["key"] == "model.chanels"


@pytest.mark.slow
def test_evaluate_refuses_data_that_changed_since_training(trained_run_copy, corpus_root, capsys):
    recorded = json.loads((trained_run_copy / "run.json").read_text())
    recorded["parts"]["test"]["fingerprint"] = "0" * 16
    (trained_run_copy / "run.json").write_text(json.dumps(recorded))
    assert main(["evaluate", str(trained_run_copy)]) == 2
    assert "the test part had 150 clips when the run was trained" in capsys.readouterr().err
    recorded["classes"] = recorded["classes"][:5]
    (trained_run_copy / "run.json").write_text(json.dumps(recorded))
    with pytest.raises(RunError, match="was trained on classes"):
        results.evaluate(trained_run_copy)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, make_tiny_recipe):
    return training.train(recipe_from_dict(make_tiny_recipe()), tmp_path_factory.mktemp("svc") / "run").run_dir


@pytest.fixture
def trained_run_copy(finished_run, tmp_path):
    import shutil

    return shutil.copytree(finished_run, tmp_path / "run")


@pytest.mark.slow
def test_public_api_predicts_arrays_of_any_rate_in_a_batch(finished_run):
    model = sonogram.load(finished_run)
    rng = np.random.default_rng(0)
    clips = [tone_clip(d, 0, 44100, 0.4, rng) for d in (2, 7, 9)]
    predictions = model.predict(clips, sample_rate=44100)
    assert [p.label for p in predictions] == ["2", "7", "9"]
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-4 for p in predictions)
    one_by_one = [model.predict([clip], sample_rate=44100)[0] for clip in clips]
    assert [p.probabilities for p in one_by_one] == [p.probabilities for p in predictions]
    with pytest.raises(sonogram.AudioError, match="NaN"):
        model.predict([np.full(100, np.nan)])
    with pytest.raises(ConfigError, match="sample_rate must be positive"):
        model.predict(clips, sample_rate=0)


@pytest.mark.slow
def test_predict_batches_files_notes_long_ones_and_survives_odd_names(finished_run, tmp_path, capsysbinary):
    rng = np.random.default_rng(1)
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, digit in enumerate([1, 4, 6] * 30):
        soundfile.write(folder / f"{i:03d}_{digit}.wav", tone_clip(digit, 0, 8000, 0.4, rng), 8000)
    long_file = tmp_path / "long.wav"
    soundfile.write(long_file, np.concatenate([tone_clip(3, 0, 8000, 0.4, rng)] * 5), 8000)
    odd = tmp_path / os.fsdecode(b"caf\xe9-\xff.wav")  # not UTF-8: Latin-1 bytes, as old archives hold
    soundfile.write(tmp_path / "plain.wav", tone_clip(5, 0, 8000, 0.4, rng), 8000)
    os.rename(tmp_path / "plain.wav", odd)
    assert main(["predict", str(finished_run), str(folder), str(long_file), str(odd), "--json"]) == 0
    captured = capsysbinary.readouterr()
    rows = [json.loads(line) for line in captured.out.decode().splitlines()]
    assert len(rows) == 92 and [r["label"] for r in rows[:3]] == ["1", "4", "6"]
    assert "cut to the model's 0.40 s input (center)" in rows[90]["note"]
    assert rows[91]["label"] == "5" and "caf" in rows[91]["path"]
    assert b"note: " in captured.err and b"Traceback" not in captured.err


@pytest.mark.slow
def test_a_cv_folder_gets_its_own_report(tiny_recipe, tmp_path, capsys):
    tiny_recipe["dataset"]["split"] = "loso"
    tiny_recipe["train"]["epochs"] = 1
    result = training.cross_validate(recipe_from_dict(tiny_recipe), tmp_path / "cv")
    page = result.report.read_text()
    assert result.report == tmp_path / "cv" / "report.html" and "pooled" in page and page.count("<tr>") == 1 + 3
    assert main(["report", str(tmp_path / "cv")]) == 0


@pytest.mark.slow
def test_damaged_run_files_are_one_line_errors(trained_run_copy, capsys):
    (trained_run_copy / "metrics.json").write_text("{not json")
    assert main(["report", str(trained_run_copy)]) == 2
    assert "metrics.json: damaged (JSONDecodeError)" in capsys.readouterr().err
    (trained_run_copy / "history.csv").write_text("epoch,train_loss\nx,y\n")
    with pytest.raises(RunError, match="history.csv: damaged"):
        Run(trained_run_copy).history()
    checkpoint = torch.load(trained_run_copy / "model.pt")
    checkpoint["labels"] = checkpoint["labels"][:3]
    torch.save(checkpoint, trained_run_copy / "model.pt")
    assert main(["predict", str(trained_run_copy), str(trained_run_copy / "config.yaml")]) == 2
    assert "3 labels for 10 outputs" in capsys.readouterr().err
    del checkpoint["state_dict"]
    torch.save(checkpoint, trained_run_copy / "model.pt")
    with pytest.raises(ConfigError, match="no state_dict"):
        sonogram.load(trained_run_copy)
