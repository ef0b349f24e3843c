"""kill -9 at random points of training, then ``--resume``: the final ``model.pt`` weights and
``history.csv`` (but its seconds column) equal an uninterrupted run's, because every random state is in
``last.ckpt``."""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

EPOCHS = 6


def sonogram(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1] / "src"),
                                                                       os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "sonogram", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in err, err


def history(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def weights(run: Path) -> dict:
    import torch

    return torch.load(run / "model.pt", weights_only=True)["state_dict"]


def wait_for_checkpoints(process: subprocess.Popen, checkpoint: Path, count: int) -> float:
    """Return once ``checkpoint`` has been (re)written ``count`` (>= 2) times, with the seconds between writes."""
    seen, last, times = 0, None, []
    deadline = time.monotonic() + 180
    while seen < count:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
        stamp = checkpoint.stat().st_mtime_ns if checkpoint.is_file() else None
        if stamp != last and stamp is not None:
            seen, last = seen + 1, stamp
            times.append(time.monotonic())
        time.sleep(0.005)
    return (times[-1] - times[0]) / (len(times) - 1)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, make_tiny_recipe) -> Path:
    data = make_tiny_recipe()
    data["train"]["epochs"] = EPOCHS
    data["train"]["patience"] = EPOCHS
    data["train"]["batch_size"] = 4  # ~30 steps an epoch: long enough to be killed inside one on a fast machine
    path = tmp_path_factory.mktemp("kill9") / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def uninterrupted(recipe, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    finish(sonogram("train", str(recipe), "--out", str(run)))
    return run


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_9_then_resume_gives_the_uninterrupted_run(recipe, uninterrupted, tmp_path, seed):
    run = tmp_path / "run"
    process = sonogram("train", str(recipe), "--out", str(run))
    rng = random.Random(seed)
    epoch = wait_for_checkpoints(process, run / "checkpoints" / "last.ckpt", rng.randint(2, EPOCHS - 1))
    time.sleep(rng.uniform(0.0, 0.8) * epoch)  # somewhere inside the next epoch, however fast epochs are
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert not (run / "metrics.json").exists(), "killed too late to test anything"
    finish(sonogram("train", "--resume", str(run)))
    assert not list(run.rglob("*.tmp")), "temporary files of the killed process were left behind"
    assert history(run) == history(uninterrupted)
    import torch

    reference = weights(uninterrupted)
    resumed = weights(run)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
