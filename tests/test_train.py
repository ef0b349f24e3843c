"""Training end to end on a synthetic FSDD: run folder contract, learning, determinism, resume, cv, predict, DDP."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from sonogram.cli import main
from sonogram.data.synth import tone_clip, write_fsdd
from sonogram.errors import ConfigError, Interrupted
from sonogram.recipe import load_recipe
from sonogram.engine.train import LastCheckpoint, train_run

REPO = Path(__file__).resolve().parents[1]

def read_history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_train_leaves_the_full_run_folder_and_learns(recipe_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(recipe_file), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"run folder: {run}" in out and "confusion (rows: true, columns: predicted)" in out
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "labels.json", "model.pt", "metrics.json",
                                                "history.csv", "tensorboard"}
    assert not (run / "checkpoints" / "last.ckpt").exists()  # removed once the run is finished
    assert json.loads((run / "labels.json").read_text()) == [str(d) for d in range(10)]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["design"]["num_classes"] == 10 and config["seed"] == 0  # resolved, not the raw recipe
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["clips"] == 150 and metrics["val"]["clips"] + metrics["train"]["clips"] == 150
    assert metrics["test"]["accuracy"] >= 0.8, metrics["test"]["accuracy"]  # chance is 0.1
    assert sum(map(sum, metrics["test"]["confusion"])) == 150
    assert set(metrics["test"]["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert metrics["params"] == 513 * 32 + 32 + 32 * 10 + 10 and metrics["train_seconds"] > 0
    history = read_history(run)
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4]
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    checkpoint = torch.load(run / "model.pt", weights_only=True)
    assert checkpoint["epoch"] == metrics["best_epoch"] and checkpoint["design"]["align"] == "center"
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_training_is_deterministic(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file, ["train.epochs=2"])
    first = train_run(recipe, tmp_path / "a")
    second = train_run(load_recipe(recipe_file, ["train.epochs=2"]), tmp_path / "b")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_history(tmp_path / "a")) == strip(read_history(tmp_path / "b"))
    assert first["test"]["confusion"] == second["test"]["confusion"]


def test_existing_run_is_never_overwritten(recipe_file, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    assert main(["train", str(recipe_file), "--out", str(run)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (run / "metrics.json").read_text() == "{}"



@pytest.mark.slow
def test_resume_after_interrupt(recipe_file, tmp_path, monkeypatch, capsys, interrupt_after_epoch):
    run = tmp_path / "run"
    interrupt_after_epoch(monkeypatch, 2)
    with pytest.raises(Interrupted, match="sonogram train --resume"):
        train_run(load_recipe(recipe_file), run)
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "metrics.json").exists()
    assert [int(r["epoch"]) for r in read_history(run)] == [1, 2]
    monkeypatch.undo()
    assert main(["train", "--resume", str(run)]) == 0
    assert [int(r["epoch"]) for r in read_history(run)] == [1, 2, 3, 4]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 4
    assert main(["train", "--resume", str(run), "--set", "train.epochs=9"]) == 2
    assert "give no RECIPE or --set" in capsys.readouterr().err


@pytest.mark.slow
def test_interrupted_cli_exits_130_with_the_resume_command(recipe_file, tmp_path, monkeypatch, capsys, interrupt_after_epoch):
    interrupt_after_epoch(monkeypatch, 1)
    assert main(["train", str(recipe_file), "--out", str(tmp_path / "run")]) == 130
    assert f"continue with: sonogram train --resume {tmp_path / 'run'}" in capsys.readouterr().err


@pytest.mark.slow
def test_cv_runs_every_fold_and_resumes(recipe_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cv"
    args = ["cv", str(recipe_file), "--set", "dataset.split=loso", "--set", "train.epochs=2", "--out", str(out)]
    calls = []
    original = LastCheckpoint.on_train_epoch_end

    def interrupt_in_second_fold(self, trainer, module):
        original(self, trainer, module)
        calls.append(self.path)
        if len({p.parent.parent for p in calls}) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", interrupt_in_second_fold)
    assert main(args) == 130
    partial = json.loads((out / "cv.json").read_text())
    assert not partial["complete"] and [f["fold"] for f in partial["folds"]] == ["speaker-ann"]
    first_model = out / "fold-00-speaker-ann" / "model.pt"
    stamp = first_model.stat().st_mtime_ns
    monkeypatch.undo()
    capsys.readouterr()
    assert main(args + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] and [f["fold"] for f in summary["folds"]] == ["speaker-ann", "speaker-bob",
                                                                             "speaker-cy"]
    assert first_model.stat().st_mtime_ns == stamp  # the finished fold was not trained again
    accuracies = [f["test_accuracy"] for f in summary["folds"]]
    assert summary["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert summary["test_accuracy"]["std"] == pytest.approx(np.std(accuracies))
    assert main(["cv", str(recipe_file), "--set", "dataset.split=loso", "--set", "train.epochs=3",
                 "--out", str(out)]) == 2
    assert "holds cross-validation of a different recipe" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, make_tiny_recipe) -> Path:
    data = make_tiny_recipe()
    run = tmp_path_factory.mktemp("trained") / "run"
    from sonogram.recipe import recipe_from_dict

    train_run(recipe_from_dict(data), run)
    return run


@pytest.mark.slow
def test_evaluate_reproduces_the_test_metrics(trained_run, corpus_root, capsys):
    assert main(["evaluate", str(trained_run), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert evaluated["test"] == saved["test"]
    assert main(["evaluate", str(trained_run), "--part", "val"]) == 0
    assert "val: accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(corpus_root)]) == 2


@pytest.mark.slow
def test_predict_good_and_bad_files(trained_run, tmp_path, capsys):
    rng = np.random.default_rng(1)
    good8k = tmp_path / "seven.wav"
    soundfile.write(good8k, tone_clip(7, 0, 8000, 0.4, rng), 8000)
    good16k = tmp_path / "three_16k.flac"  # another rate and format: resampled to the run's 8 kHz
    soundfile.write(good16k, tone_clip(3, 1, 16000, 0.4, rng), 16000)
    stereo = tmp_path / "stereo.wav"
    clip = tone_clip(5, 2, 8000, 0.4, rng)
    soundfile.write(stereo, np.stack([clip, clip], axis=1), 8000, subtype="PCM_24")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    missing = tmp_path / "missing.wav"
    code = main(["predict", str(trained_run), str(good8k), str(empty), str(good16k), str(text), str(stereo),
                 str(missing), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [(Path(r["path"]).name, r["label"]) for r in rows] == [("seven.wav", "7"), ("three_16k.flac", "3"),
                                                                  ("stereo.wav", "5")]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("sonogram predict: error: ") for e in errors)
    assert "empty.wav" in errors[0] and "notes.wav" in errors[1] and "missing.wav" in errors[2]
    assert "Traceback" not in captured.err


@pytest.mark.slow
def test_predict_a_folder(trained_run, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for digit in (1, 4):
        soundfile.write(folder / f"{digit}.wav", tone_clip(digit, 0, 8000, 0.4, np.random.default_rng(digit)), 8000)
    (folder / "readme.txt").write_text("skipped: not audio by name")
    assert main(["predict", str(trained_run), str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[str(folder / "1.wav"), "1"], [str(folder / "4.wav"), "4"]]


def test_predict_errors_without_a_model(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "x.wav"]) == 2
    assert "no model.pt" in capsys.readouterr().err


def test_invalid_recipes_are_one_line_errors(recipe_file, tmp_path, capsys):
    assert main(["train", str(recipe_file), "--set", "optim.lr=fast", "--out", str(tmp_path / "r")]) == 2
    assert "optim.lr: expected float, got 'fast'" in capsys.readouterr().err
    assert main(["train", str(recipe_file), "--set", "trian.epochs=1", "--out", str(tmp_path / "r")]) == 2
    assert "unknown key 'trian'; valid keys: name, seed, dataset" in capsys.readouterr().err
    assert main(["train", str(recipe_file), "--set", "dataset.fold=7", "--out", str(tmp_path / "r")]) == 2
    assert "dataset.fold=7 but split 'official' of fsdd has 1 fold(s)" in capsys.readouterr().err
    assert main(["train", str(recipe_file), "--set", "augment.speed=0.9", "--out", str(tmp_path / "r")]) == 2
    assert "augment.speed must be below 0.5, got 0.9" in capsys.readouterr().err
    assert main(["train"]) == 2


@pytest.mark.slow
def test_lr_find_suggests_a_rate_that_trains(recipe_file, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert main(["lr-find", str(recipe_file), "--out", str(plot), "--steps", "40"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("suggested learning rate: ") and plot.stat().st_size > 1000
    suggestion = float(line.split(": ")[1].split()[0])
    assert 1e-5 <= suggestion <= 1.0
    out = tmp_path / "run"
    assert main(["train", str(recipe_file), "--set", f"optim.lr={suggestion}", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] >= 0.5  # chance is 0.1
    assert main(["lr-find", str(recipe_file), "--steps", "0"]) == 2
    assert "--steps must be at least 10" in capsys.readouterr().err


def test_bundled_recipes_list_and_build(capsys):
    from sonogram.network.design import build_network
    from sonogram.recipe import bundled_recipes

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    names = [name for name, _ in bundled_recipes()]
    assert "fsdd" in names and all(name in out for name in names)
    for name in names:
        build_network(load_recipe(name).design)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(recipe_file, tmp_path):
    """The documented multi-process command: DDP over gloo with 2 CPU processes."""
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-m", "sonogram", "train", str(recipe_file), "--out", str(run),
                             "--set", "train.devices=2", "--set", "train.strategy=ddp", "--set", "train.epochs=2",
                             "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["devices"] == 2 and metrics["epochs"] == 2
    assert [int(r["epoch"]) for r in read_history(run)] == [1, 2]


def test_recipe_errors():
    with pytest.raises(ConfigError, match="no such config file"):
        load_recipe("no_such_recipe")


@pytest.fixture(scope="module")
def all_layouts(tmp_path_factory) -> Path:
    """Small synthetic corpora in every layout the bundled recipes read."""
    from sonogram.data import synth
    from sonogram.data.speech_commands import KEYWORDS

    root = tmp_path_factory.mktemp("layouts")
    synth.write_fsdd(root, speakers=("ann", "bob", "cy", "dee", "eve", "fay"), takes=6, seconds=0.2)
    synth.write_speech_commands(root, "v0.02", KEYWORDS + ["bed", "cat"], [f"s{i:02d}" for i in range(12)],
                                seconds=0.2, noise_seconds=12.0)
    synth.write_speech_commands_test_set(root, [f"t{i:02d}" for i in range(10)], silences=5, unknown_words=[
        "bed", "cat", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    synth.write_audiomnist(root, seconds=0.1)
    synth.write_folder(root / "synth_digits", ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                               "nine"], [f"v{i:03d}-en-us-m1" for i in range(3)], seconds=0.2)
    voices = [f"v{i:03d}-en-us-m1" for i in range(6)]
    synth.write_folder(root / "synth_sc_keywords", KEYWORDS, voices, seconds=0.2)  # sonogram synth ... --silence
    recipe = yaml.safe_load((REPO / "recipes" / "sc_synth_kws.yaml").read_text())
    other_words = [w for w in recipe["dataset"]["options"]["sources"][2]["labels"] if w != "_silence_"]
    synth.write_folder(root / "synth_other_words", other_words, voices, seconds=0.2)
    synth.write_folder(root / "synth_other_words", ["_silence_"], [f"noise{i:05d}" for i in range(6)], seconds=0.2)
    return root


def test_custom_vocabulary_recipes_train_on_synthetic_voices_and_k_real_clips(all_layouts):
    """sc_synth_kws tests on real speech it never trains or validates on; sc_synth_kws_real adds k real
    clips per class from the fold's training speakers; without the synth corpus: a DatasetError naming it."""
    from sonogram.data import DatasetError
    from sonogram.data.loaders import load_corpus

    for name, k in (("sc_synth_kws", 0), ("sc_synth_kws_real", 5)):
        recipe = load_recipe(name, [f"dataset.data_root={all_layouts}"])
        corpus = load_corpus(recipe)
        fold = corpus.splits(recipe.dataset.split, recipe.seed)[recipe.dataset.fold]
        real = np.array([s.startswith("speech_commands:") for s in corpus.speakers])
        assert real[fold.test].all() and fold.test.size > 0 and not real[fold.val].any(), name
        counts = np.bincount(corpus.targets[fold.train[real[fold.train]]], minlength=len(corpus.classes))
        assert counts[:10].tolist() == [k] * 10 and (counts <= k).all(), name  # keywords: >= 5 training speakers
        assert set(corpus.targets[fold.train]) == set(range(12)) and corpus.classes[-2:] == ["_unknown_", "_silence_"]
    missing = all_layouts / "no_synth"
    missing.mkdir()
    (missing / "speech_commands_v0.02_test").symlink_to(all_layouts / "speech_commands_v0.02_test")
    with pytest.raises(DatasetError, match=r"folder dataset 'synth_sc_keywords' not found: looked for the folder"):
        load_corpus(load_recipe("sc_synth_kws", [f"dataset.data_root={missing}"]))


def test_bundled_recipes_read_their_datasets(all_layouts):
    """Each recipe's dataset, loader options, split, fold and noise folder exist in the real layout."""
    from sonogram.data.augment import load_noise_bank
    from sonogram.data.loaders import load_corpus
    from sonogram.recipe import bundled_recipes

    for name, _ in bundled_recipes():
        recipe = load_recipe(name, [f"dataset.data_root={all_layouts}"])
        corpus = load_corpus(recipe)
        folds = corpus.splits(recipe.dataset.split, recipe.seed)
        assert 0 <= recipe.dataset.fold < len(folds), name
        if recipe.dataset.split != "official":  # every other recipe tests on speakers it never trained on
            for fold in folds:
                heard = set(corpus.speakers[fold.train]) | set(corpus.speakers[fold.val])
                assert not heard & set(corpus.speakers[fold.test]), (name, fold.name)
        if recipe.augment.noise_dir:
            assert len(load_noise_bank(all_layouts / recipe.augment.noise_dir, recipe.design.sample_rate)) > 0
