import json
import os
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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache folders from tests."""
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
