"""Generated recipe values: every numeric key set to zero, negative, huge, NaN, inf or the wrong type
either passes validation or gives the project's own one-line error, with nothing written.

``Run.create`` is the first write of a training; reaching it means every check passed, so the test
stops there instead of training on each example.
"""

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonogram.cli import main
from sonogram.runs import Run

# Every numeric key of the tiny recipe (conftest.RECIPE), its design's layers and model, and the recipe sections.
NUMERIC_KEYS = [
    "seed", "dataset.fold",
    "design.sample_rate", "design.num_samples", "design.num_classes",
    "design.frontend.0.n_fft", "design.frontend.1.top_db",
    "design.model.hidden", "design.model.hidden.0", "design.model.dropout",
    "optim.lr", "optim.weight_decay", "optim.momentum", "optim.label_smoothing",
    "schedule.warmup",
    "augment.time_shift", "augment.gain_db", "augment.speed", "augment.noise_prob",
    "train.epochs", "train.batch_size", "train.patience", "train.devices", "train.num_nodes",
    "train.num_workers", "train.gradient_clip",
]

HOSTILE = ["0", "-1", "-0.5", "0.5", "1e-300", "1e300", "1e12", str(2**63), str(-(2**63)), "nan", ".nan", ".inf",
           "-.inf", "inf", "abc", "''", "[]", "{}", "[1, -1]", "null", "true", "[.nan]", "0x10"]


class ValidationPassed(Exception):
    """Raised in place of the first write: everything before it was checked."""


@pytest.fixture
def stop_at_first_write(monkeypatch):
    def create(self, *args, **kwargs):
        raise ValidationPassed

    monkeypatch.setattr(Run, "create", create)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(NUMERIC_KEYS),
       value=st.one_of(st.sampled_from(HOSTILE), st.integers(-(10**12), 10**12).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr)))
def test_recipe_values_pass_or_fail_in_one_line(key, value, recipe_file, stop_at_first_write, capsys):
    out = Path(tempfile.mkdtemp()) / "run"
    capsys.readouterr()
    try:
        code = main(["train", str(recipe_file), "--set", f"{key}={value}", "--out", str(out)])
    except ValidationPassed:
        return
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("sonogram train: error: ") and len(err.strip().splitlines()) == 1, err
    assert not out.exists(), f"{key}={value} left {sorted(out.rglob('*'))}"


def test_a_valid_value_reaches_the_first_write(recipe_file, stop_at_first_write):
    with pytest.raises(ValidationPassed):
        main(["train", str(recipe_file), "--set", "train.epochs=2", "--out", str(recipe_file.parent / "run")])


@pytest.mark.parametrize("setting, named", [
    (f"seed={2**40}", "seed"),  # Lightning and numpy take 32-bit seeds
    ("train.num_workers=1000", "train.num_workers"),  # a thousand loader processes
    ("design.sample_rate=10000000", "design.sample_rate"),  # decoding the corpus at 10 MHz
    ("design.num_samples=100000000", "design.num_samples"),  # 100 M samples a clip
    ("design.model.hidden.0=1000000000", "parameters"),
    ("design.frontend.0.n_fft=2147483647", "n_fft"),  # an 8 GB window
    ("train.devices=2147483647", "train.devices"),  # Lightning lists every CPU device it was asked for
    ("train.devices='2147483647'", "train.devices"),  # a string of digits is a count to Lightning too  # 10**14 bytes of weights, refused before allocating
])
def test_values_that_would_exhaust_the_machine_are_refused(recipe_file, tmp_path, capsys, setting, named):
    assert main(["train", str(recipe_file), "--set", setting, "--out", str(tmp_path / "run")]) == 2
    assert named in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_design_values_in_a_design_file_are_checked(tmp_path, tiny_recipe, capsys):
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe["design"]))
    for value in ("0", "-3", ".nan", "abc"):
        assert main(["design", "show", str(path), "--set", f"num_samples={value}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sonogram design: error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_every_numeric_key_with_every_hostile_value(key, recipe_file, stop_at_first_write, capsys):
    for value in HOSTILE:
        out = Path(tempfile.mkdtemp()) / "run"
        capsys.readouterr()
        try:
            code = main(["train", str(recipe_file), "--set", f"{key}={value}", "--out", str(out)])
        except ValidationPassed:
            continue
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("sonogram train: error: ") and len(err.strip().splitlines()) == 1, \
            f"{key}={value}: {err}"
        assert not out.exists(), f"{key}={value} left files in {out}"
