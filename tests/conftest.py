import json
import os
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    for candidate in (os.environ.get("SONOGRAM_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "fsdd" / "recordings").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real corpora (FSDD, Speech Commands test set) beside the repository."""
    root = _shared_data()
    if root is None:
        pytest.skip("real corpora not found (set SONOGRAM_DATA or place shared/data beside the repo)")
    return root


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Session-scoped fixtures (a finished tiny run, a KWS run) build caches too: never in the user's folders."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SONOGRAM_CACHE", str(tmp_path_factory.mktemp("session-cache")))
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("session-xdg")))
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache folders from tests; each test starts with empty ones."""
    monkeypatch.setenv("SONOGRAM_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))


# A tiny recipe on a synthetic FSDD (tones per digit): trains in a few seconds and learns.
RECIPE = {
    "name": "tiny",
    "seed": 0,
    "dataset": {"name": "fsdd", "split": "official"},
    "design": {
        "sample_rate": 8000, "num_samples": 3200,
        "frontend": [{"name": "fft", "n_fft": 1024}, {"name": "amplitude_to_db", "stype": "magnitude", "top_db": 80},
                     {"name": "normalize", "per": "clip"}],
        "model": {"name": "mlp", "hidden": [32], "dropout": 0.0},
    },
    "optim": {"lr": 0.01},
    "augment": {"time_shift": 0.02, "gain_db": 3},
    "train": {"epochs": 4, "batch_size": 16, "progress": False, "accelerator": "cpu"},
}


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    from sonogram.data.synth import write_fsdd

    write_fsdd(root, speakers=("ann", "bob", "cy"), takes=10, seconds=0.4)
    return root


@pytest.fixture(scope="session")
def make_tiny_recipe(corpus_root):
    """A function giving a fresh copy of the tiny recipe as plain data, pointing at the synthetic corpus."""

    def make() -> dict:
        data = json.loads(json.dumps(RECIPE))
        data["dataset"]["data_root"] = str(corpus_root)
        return data

    return make


@pytest.fixture
def tiny_recipe(make_tiny_recipe) -> dict:
    return make_tiny_recipe()


@pytest.fixture
def recipe_file(tmp_path, tiny_recipe) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe))
    return path


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory, make_tiny_recipe) -> Path:
    """A finished run of the tiny recipe, shared by every test that only reads it."""
    from sonogram.engine.train import train_run
    from sonogram.recipe import recipe_from_dict

    run = tmp_path_factory.mktemp("finished") / "run"
    train_run(recipe_from_dict(make_tiny_recipe()), run)
    return run


@pytest.fixture(scope="session")
def interrupt_after_epoch():
    """A function ``(monkeypatch, epoch)`` that makes Ctrl-C arrive right after ``epoch`` (1-based) is checkpointed."""
    from sonogram.engine.train import LastCheckpoint

    def arrange(monkeypatch, epoch: int) -> None:
        original = LastCheckpoint.on_train_epoch_end

        def then_interrupt(self, trainer, module):
            original(self, trainer, module)
            if trainer.current_epoch + 1 == epoch:
                raise KeyboardInterrupt

        monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", then_interrupt)

    return arrange


@pytest.fixture(scope="session")
def kws_run(tmp_path_factory) -> Path:
    """A tiny keyword model (tone-burst words, _silence_, _unknown_) trained for seconds: see tone_words.py."""
    from tone_words import train_kws_run

    return train_kws_run(tmp_path_factory.mktemp("kws"))


class Gate:
    """Holds a training thread at one point until the test lets it through: ``allow(n)`` lets ``n`` passes
    through, ``open()`` all of them from now on. A test that races its training (a Stop that the work could
    outrun) arranges the order with a gate instead of a sleep."""

    def __init__(self, name: str):
        self.name, self.held = name, 0
        self._passes, self._open = 0, False
        self._changed = threading.Condition()

    def allow(self, passes: int = 1) -> None:
        with self._changed:
            self._passes += passes
            self._changed.notify_all()

    def open(self) -> None:
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def wait_until_held(self, count: int = 1, timeout: float = 120) -> None:
        """Block the test until the training has reached the gate ``count`` times in all."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.held >= count, timeout):
                raise TimeoutError(f"training never reached the {self.name} gate {count} time(s)")

    def pass_through(self, timeout: float = 600) -> None:
        """Called by the training thread: wait for a pass (or an open gate)."""
        with self._changed:
            self.held += 1
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._open or self._passes > 0, timeout):
                raise TimeoutError(f"the test never let training through the {self.name} gate")
            if not self._open:
                self._passes -= 1


@pytest.fixture
def training_gates(monkeypatch):
    """``(epoch, evaluation)`` gates: every training in this process stops at the end of each epoch (after
    the epoch's history row and checkpoint are written, before a stop request is read) and at the start of
    its final evaluation (after the ``evaluating`` event, when a stop comes too late), until let through.
    Both open when the test ends, so a failed test never leaves a training hanging."""
    from sonogram.engine import train

    epoch, evaluation = Gate("epoch"), Gate("evaluation")
    read_stop, finish = train.EpochEvents.on_train_epoch_end, train.finish_run

    def held_epoch_end(self, trainer, module):
        if not trainer.sanity_checking:
            epoch.pass_through()
        read_stop(self, trainer, module)

    def held_finish(*args, **kwargs):
        evaluation.pass_through()
        return finish(*args, **kwargs)

    monkeypatch.setattr(train.EpochEvents, "on_train_epoch_end", held_epoch_end)
    monkeypatch.setattr(train, "finish_run", held_finish)
    yield epoch, evaluation
    epoch.open()
    evaluation.open()
