"""A full disk, on a small tmpfs: one line naming the file that could not be written and the space it
needed, nothing torn, and a run that is either resumable or cleanly absent. Skipped where tmpfs cannot
be mounted (it needs root)."""

import json
import re
import shutil
import subprocess

import pytest

from sonogram.cli import main
from sonogram.runs import Run


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)`` gives a folder on a fresh tmpfs of that size (e.g. ``"128k"``); ``grow(size)`` enlarges it."""
    mounted = []

    def mount(size: str):
        folder = tmp_path / "disk"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'})")
        mounted.append(folder)
        return folder

    def grow(size: str):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mounted[0])], check=True)

    mount.grow = grow
    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def assert_nothing_torn(folder) -> None:
    from sonogram.network.checkpoint import load_checkpoint

    assert not [p for p in folder.rglob("*.tmp")], "a temporary file was left behind"
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())
    for path in folder.rglob("model.pt"):
        load_checkpoint(path)


def one_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"sonogram {command}: error: could not write "), err
    assert "No space left on device" in err and "bytes free there" in err
    return err


@pytest.mark.parametrize("size", ["16k", "64k", "128k", pytest.param("500k", marks=pytest.mark.slow)])
def test_training_on_a_full_disk(small_disk, recipe_file, capsys, size):
    from sonogram.engine.train import read_last_checkpoint

    disk = small_disk(size)
    run = disk / "run"
    assert main(["train", str(recipe_file), "--out", str(run)]) == 2
    err = one_line(capsys, "train")
    assert f"could not write {run}" in err
    if size == "64k":  # the best model is serialised first, so its exact size is known
        assert re.search(r"model\.pt \([\d,]+ bytes, [\d,]+ bytes free there\)", err), err
    assert_nothing_torn(disk)
    if not run.exists():  # failed before its first checkpoint: the folder is gone, --out is free again
        return
    assert Run(run).state == "resumable"
    read_last_checkpoint(Run(run), Run(run).recipe())
    small_disk.grow("8m")
    assert main(["train", "--resume", str(run)]) == 0
    assert Run(run).state == "finished" and (run / "report.html").is_file()


def test_reports_on_a_full_disk(small_disk, finished_tiny_run, capsys):
    disk = small_disk("160k")
    run = disk / "run"
    shutil.copytree(finished_tiny_run, run, ignore=shutil.ignore_patterns("plots", "report.html", "tensorboard"))
    assert main(["report", str(run)]) == 2
    one_line(capsys, "report")
    assert_nothing_torn(disk)
    assert not (run / "report.html").exists()
    assert main(["report", str(run), str(run), "--out", str(disk / "compare.html")]) == 2
    one_line(capsys, "report")
    assert not (disk / "compare.html").exists()
    assert_nothing_torn(disk)
