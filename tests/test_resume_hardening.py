"""Resuming after damage: a torn or foreign ``last.ckpt``, a recipe edited since the checkpoint, a Ctrl-C
during the final evaluation, a report that could not be written. Each is one clear line, and what can
be finished is finished by ``--resume``."""

import json
from pathlib import Path

import pytest
import yaml

from sonogram.cli import main
from sonogram.engine import train as engine



@pytest.fixture
def interrupted_run(recipe_file, tmp_path, monkeypatch, capsys, interrupt_after_epoch) -> Path:
    """A run stopped by Ctrl-C after its first epoch: resumable, with ``checkpoints/last.ckpt``."""
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        interrupt_after_epoch(m, 1)
        assert main(["train", str(recipe_file), "--out", str(run)]) == 130
    capsys.readouterr()
    return run


def one_error_line(capsys, command: str = "train") -> str:
    """The error line; ``--resume`` announces the folder on stderr first, and nothing else may be there."""
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("training into")]
    assert len(lines) == 1 and lines[0].startswith(f"sonogram {command}: error: "), lines
    return lines[0]


@pytest.mark.parametrize("damage", ["torn", "garbage", "empty", "foreign"])
def test_a_damaged_checkpoint_is_one_clear_error(interrupted_run, capsys, damage):
    import torch

    ckpt = interrupted_run / "checkpoints" / "last.ckpt"
    data = ckpt.read_bytes()
    if damage == "torn":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(bytes(range(256)) * 40)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, ckpt)
    history = (interrupted_run / "history.csv").read_text()
    assert main(["train", "--resume", str(interrupted_run)]) == 2
    err = one_error_line(capsys)
    assert f"{ckpt}: damaged" in err and "cannot be resumed" in err
    assert (interrupted_run / "history.csv").read_text() == history and not (interrupted_run / "metrics.json").exists()


@pytest.mark.parametrize("edit, key", [("train.epochs", "train.epochs"), ("design.model.hidden", "design.model.hidden")])
def test_a_recipe_edited_since_the_checkpoint_is_refused(interrupted_run, capsys, edit, key):
    config = yaml.safe_load((interrupted_run / "config.yaml").read_text())
    section, *rest = edit.split(".")
    node = config[section]
    for part in rest[:-1]:
        node = node[part]
    node[rest[-1]] = 6 if rest[-1] == "epochs" else [8]
    (interrupted_run / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--resume", str(interrupted_run)]) == 2
    err = one_error_line(capsys)
    assert "the recipe changed since the checkpoint" in err and key in err


@pytest.mark.slow
def test_where_it_trains_may_change_between_sessions(interrupted_run, capsys):
    config = yaml.safe_load((interrupted_run / "config.yaml").read_text())
    config["train"]["num_workers"] = 0
    config["train"]["progress"] = True
    (interrupted_run / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--resume", str(interrupted_run)]) == 0
    assert json.loads((interrupted_run / "metrics.json").read_text())["epochs"] == 4


@pytest.mark.slow
def test_cv_resuming_a_fold_with_a_torn_checkpoint(recipe_file, tmp_path, monkeypatch, capsys, interrupt_after_epoch):
    out = tmp_path / "cv"
    args = ["cv", str(recipe_file), "--set", "dataset.split=loso", "--set", "train.epochs=2", "--out", str(out)]
    with monkeypatch.context() as m:
        interrupt_after_epoch(m, 1)
        assert main(args) == 130
    assert "cross-validation stopped in fold 1/3" in capsys.readouterr().err
    [ckpt] = out.glob("fold-*/checkpoints/last.ckpt")
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert main(args) == 2
    assert f"{ckpt}: damaged" in one_error_line(capsys, "cv")


@pytest.mark.slow
def test_ctrl_c_in_the_final_evaluation_can_be_finished(recipe_file, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(engine, "part_metrics", interrupted)
        assert main(["train", str(recipe_file), "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert f"stopped during the final evaluation (training is done); finish it with: sonogram train --resume {run}" \
        in err
    history = (run / "history.csv").read_text()
    assert not (run / "metrics.json").exists() and (run / "checkpoints" / "last.ckpt").is_file()
    assert main(["train", "--resume", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["epochs"] == 4 and metrics["test"]["clips"] > 0
    assert (run / "history.csv").read_text() == history  # no epoch trained again
    assert json.loads((run / "metrics.json").read_text()) == metrics


@pytest.mark.slow
def test_resume_after_a_failed_report_prints_a_report_that_exists(recipe_file, tmp_path, monkeypatch, capsys):
    from sonogram.errors import RunError
    from sonogram.reports import report

    run = tmp_path / "run"

    def disk_full(path, text):
        raise RunError(f"could not write {path} ({len(text):,} bytes): No space left on device")

    with monkeypatch.context() as m:
        m.setattr(report, "write_text", disk_full)
        assert main(["train", str(recipe_file), "--out", str(run)]) == 2
    assert "report.html" in one_error_line(capsys) and (run / "metrics.json").is_file()
    assert main(["train", "--resume", str(run)]) == 0
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("report: ")]
    assert shown == [f"report: {run / 'report.html'}"] and (run / "report.html").is_file()
