"""kill -9 at chosen points of training (inside a step, between epochs, halfway through writing a
checkpoint), then ``--resume``: the final ``model.pt`` weights and ``history.csv`` (but its seconds
column) equal an uninterrupted run's, because every random state is in ``last.ckpt``.

The trainer is held at its kill point (it writes a marker, then waits for ever), so the kill always lands
there, however fast or slow the machine is."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

EPOCHS = 6


# Runs the sonogram CLI with the trainer held at a kill point: argv is WHERE EPOCH BATCH MARKER, then the CLI's.
HELD = """
import sys, threading
from pathlib import Path
import lightning as L
from sonogram.cli import main
from sonogram.engine.train import Classifier

where, epoch, batch, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])

def hold():
    marker.write_text(where)
    threading.Event().wait()

if where == "step":  # inside training step BATCH of epoch EPOCH (0-based)
    step = Classifier.training_step
    def held_step(self, data, index):
        if self.current_epoch == epoch and index == batch:
            hold()
        return step(self, data, index)
    Classifier.training_step = held_step
elif where == "checkpoint":  # last.ckpt's temporary file of epoch EPOCH written, not yet put in place
    save = L.Trainer.save_checkpoint
    def held_save(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        if self.current_epoch == epoch:
            hold()
    L.Trainer.save_checkpoint = held_save
sys.exit(main(sys.argv[5:]))
"""


def sonogram(*args: str, held: tuple[str, int, int, Path] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1] / "src"),
                                                                       os.environ.get("PYTHONPATH")]))}
    command = ["-c", HELD, *map(str, held)] if held else ["-m", "sonogram"]
    return subprocess.Popen([sys.executable, *command, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in err, err


def history(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def weights(run: Path) -> dict:
    import torch

    return torch.load(run / "model.pt", weights_only=True)["state_dict"]


def wait_until_held(process: subprocess.Popen, marker: Path) -> None:
    """Return once the trainer has reached its kill point (the marker exists) and waits there."""
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, f"the trainer ended before its kill point: {process.communicate()[1]}"
        assert time.monotonic() < deadline, "the trainer never reached its kill point"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, make_tiny_recipe) -> Path:
    data = make_tiny_recipe()
    data["train"]["epochs"] = EPOCHS
    data["train"]["patience"] = EPOCHS
    data["train"]["batch_size"] = 4  # ~30 steps an epoch, so a step in the middle of one can be chosen
    path = tmp_path_factory.mktemp("kill9") / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def uninterrupted(recipe, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    finish(sonogram("train", str(recipe), "--out", str(run)))
    return run


@pytest.mark.slow
@pytest.mark.parametrize("where, epoch, batch", [("step", 2, 17), ("step", 4, 0), ("checkpoint", 3, 0)],
                         ids=["mid-epoch", "first-step", "checkpoint-write"])
def test_kill_9_then_resume_gives_the_uninterrupted_run(recipe, uninterrupted, tmp_path, where, epoch, batch):
    run, marker = tmp_path / "run", tmp_path / "held"
    process = sonogram("train", str(recipe), "--out", str(run), held=(where, epoch, batch, marker))
    wait_until_held(process, marker)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert not (run / "metrics.json").exists()
    if where == "checkpoint":  # killed halfway through replacing last.ckpt: the torn file is left behind
        assert (run / "checkpoints" / ".last.ckpt.tmp").is_file()
    finish(sonogram("train", "--resume", str(run)))
    assert not list(run.rglob("*.tmp")), "temporary files of the killed process were left behind"
    assert history(run) == history(uninterrupted)
    import torch

    reference = weights(uninterrupted)
    resumed = weights(run)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
