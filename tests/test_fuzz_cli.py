"""Every sub-command (and every ``plot`` kind) with hostile arguments: missing files, folders where files
belong, files where folders belong, zero/negative/NaN/huge numbers, empty strings, names that are not
UTF-8, unknown options. The only outcome is exit status 2 with one error line (argparse's usage errors
are 2 as well), or 1 from ``predict`` for files it could not read; never a traceback.
"""

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonogram.cli import COMMANDS, PLOT_KINDS, main

# {RUN} a finished run, {RECIPE} a recipe file, {WAV} a clip, {MISSING} nothing, {DIR} a data folder,
# {FILE} a file that is no run or audio, {BAD} a file whose name is not UTF-8, {OUT} a fresh path.
CASES = """
datasets --data-root {FILE}
datasets --data-root ''
datasets fsdd --data-root {MISSING}
datasets fsdd --seed -1 --data-root {DIR}
datasets fsdd --seed nan
datasets fsdd --option oops --data-root {DIR}
datasets fsdd --option '' --data-root {DIR}
datasets bogus
download fsdd --data-root {FILE}
download bogus
export {MISSING} --format onnx
export {FILE} --format onnx
export {DIR} --format onnx
export {RUN} --format tflite
export {RUN}
serve {MISSING}
serve {FILE}
serve {RUN} --port -1
serve {RUN} --port 70000
serve {RUN} --port nan
serve {RUN} --max-batch 0
studio --port -1
studio --port 99999
studio --runs {FILE}
studio --data-root {MISSING}
design show {MISSING}
design show {DIR}
design show {BAD}
design show ''
design show {RECIPE} --budget 0 --scale hidden
design show {RECIPE} --budget -5 --scale hidden
design show {RECIPE} --budget 100000000000 --scale hidden
design show {RECIPE} --budget 10
design show {RECIPE} --set ''
design show {RECIPE} --set model=
design show {RECIPE} --set num_samples=nan
train
train {MISSING}
train {DIR}
train {BAD}
train ''
train {RECIPE} --out ''
train {RECIPE} --out {FILE}
train {RECIPE} --data-root {MISSING} --out {OUT}
train {RECIPE} --data-root {FILE} --out {OUT}
train {RECIPE} --data-root '' --out {OUT}
train {RECIPE} --set = --out {OUT}
train {RECIPE} --set train=3 --out {OUT}
train {RECIPE} --set train.epochs.x=3 --out {OUT}
train {RECIPE} --set train.epochs=nan --out {OUT}
train {RECIPE} --set optim.lr=0 --out {OUT}
train {RECIPE} --resume {RUN}
train --resume {MISSING}
train --resume {FILE}
train --resume {DIR}
train --resume ''
train --resume {BAD}
train {RECIPE} --bogus
cv {MISSING}
cv ''
cv {RECIPE} --out {FILE}
cv {RECIPE} --out {RUN}
cv {RECIPE} --out {DIR}
cv {RECIPE} --out ''
cv {RECIPE} --set train.batch_size=0 --out {OUT}
evaluate {MISSING}
evaluate {FILE}
evaluate {DIR}
evaluate ''
evaluate {BAD}
evaluate {RUN} --data-root {MISSING}
evaluate {RUN} --data-root {FILE}
evaluate {RUN} --part bogus
predict {MISSING} {WAV}
predict {FILE} {WAV}
predict {DIR} {WAV}
predict '' {WAV}
predict {RUN} ''
predict {RUN}
listen
listen {RUN}
listen {RUN} ''
listen {RUN} {MISSING}
listen {RUN} {BAD}
listen {RUN} {FILE}
listen {RUN} {DIR}
listen {MISSING} {WAV}
listen {DIR} {WAV}
listen {RUN} {WAV} --mic
listen {RUN} --mic --device 9999
listen {RUN} {WAV} --hop 0
listen {RUN} {WAV} --threads 0
listen {RUN} {WAV} --hop nan
listen {RUN} {WAV} --threshold nan
listen {RUN} {WAV} --threshold 0
listen {RUN} {WAV} --smooth -1
listen {RUN} {WAV} --refractory inf
listen {RUN} {WAV} --class-threshold 3=2
listen {RUN} {WAV} --class-threshold nine=0.5
listen {RUN} {WAV} --rate 8000
listen {RUN} - --rate 0
listen {RUN} - --rate 8000 --channels 0
listen {RUN} {WAV} --engine frames --engine bogus
recipes --bogus
lr-find {MISSING}
lr-find {RECIPE} --steps 0
lr-find {RECIPE} --steps -3
lr-find {RECIPE} --min-lr 0
lr-find {RECIPE} --min-lr nan
lr-find {RECIPE} --max-lr inf
lr-find {RECIPE} --min-lr 1 --max-lr 0.1
lr-find {RECIPE} --out {DIR}
lr-find {RECIPE} --out ''
lr-find {RECIPE} --steps abc
report {MISSING}
report {FILE}
report {DIR}
report ''
report {BAD}
report {RUN} {RUN} --out {DIR}
report {RUN} {RUN} --out ''
synth
synth yes
synth ../yes --out {OUT}
synth '' --out {OUT}
synth {BAD} --out {OUT}
synth yes --out ''
synth yes --out {FILE}
synth yes --out {DIR}
synth yes --out {OUT} --voices 0
synth yes --out {OUT} --takes -1
synth yes --out {OUT} --rate nan
synth yes --out {OUT} --rate 10
synth yes --out {OUT} --seed -1
synth yes --out {OUT} --languages xx
experiments learn-stft --clips 0
experiments learn-stft --clips 100000000
experiments learn-stft --epochs -1
experiments learn-stft --batch-size 0
experiments learn-stft --seed -1 --clips 64 --epochs 1 --out {OUT}
experiments learn-stft --out {FILE} --clips 64 --epochs 1
experiments learn-stft --out ''
experiments bogus
plot
plot bogus
plot waveform {MISSING}
plot waveform {DIR}
plot waveform {BAD}
plot waveform ''
plot waveform {FILE}
plot waveform {WAV} --sample-rate 0
plot waveform {WAV} --sample-rate -8000
plot waveform {WAV} --sample-rate 999999999
plot waveform {WAV} --out {DIR}
plot waveform {WAV} --out ''
plot waveform {WAV} --out {FILE}/x.png
plot waveform {WAV} --out x.jpg
plot spectrogram {WAV} --n-fft 0
plot spectrogram {WAV} --n-fft 1
plot spectrogram {WAV} --n-fft 100000000
plot spectrogram {WAV} --hop-length 0
plot spectrogram {WAV} --hop-length -1
plot spectrogram {WAV} --n-mels 0 --kind mel
plot spectrogram {WAV} --n-mels 100000 --kind mel
plot spectrogram {WAV} --kind log --n-fft 2
plot spectrogram {WAV} --kind bogus
plot fourier-vs-mel {WAV} --time -1
plot fourier-vs-mel {WAV} --time nan
plot fourier-vs-mel {WAV} --time inf
plot fourier-vs-mel {WAV} --time 1000
plot fourier-vs-mel {WAV} --n-mels 5000
plot fourier-vs-mel {MISSING}
plot filterbank --n-fft 0
plot filterbank --n-fft nan
plot filterbank --sample-rate 0
plot filterbank --sample-rate 999999999
plot filterbank --n-mels 1000000
plot filterbank --mel-scale bogus
plot curves {MISSING}
plot curves {FILE}
plot curves {DIR}
plot curves ''
plot confusion {MISSING}
plot confusion {FILE}
plot confusion {DIR}
plot confusion ''
plot weights {MISSING}
plot weights {FILE}
plot weights {DIR}
plot frames {RUN}
plot frames {MISSING} {WAV}
plot frames {RUN} {MISSING}
plot frames {RUN} {DIR}
plot frames {RUN} {BAD}
plot frames {RUN} ''
plot frames {RUN} {WAV} --hop 0
plot frames {RUN} {WAV} --hop nan
plot frames {RUN} {WAV} --hop inf
plot frames {RUN} {WAV} --hop 1e-9
plot lr-find {MISSING}
plot lr-find {RECIPE} --steps 0
plot lr-find {RECIPE} --set optim.lr=nan
plot lr-find {RECIPE} --out {DIR}
""".strip().splitlines()

PREDICT_FILE_ERRORS = """
predict {RUN} {MISSING}
predict {RUN} {BAD}
predict {RUN} {FILE}
predict {RUN} {DIR}/fsdd/recordings/missing.wav
""".strip().splitlines()


@pytest.fixture(scope="module")
def places(tmp_path_factory, finished_tiny_run, make_tiny_recipe, corpus_root):
    import yaml

    tmp = tmp_path_factory.mktemp("hostile")
    recipe = tmp / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(make_tiny_recipe()))
    bad = os.fsdecode(bytes(tmp) + b"/\xff\xfe.wav")
    with open(os.fsencode(bad), "wb") as f:
        f.write(b"not audio")
    return {"RUN": str(finished_tiny_run), "RECIPE": str(recipe), "WAV": str(next(corpus_root.rglob("*.wav"))),
            "MISSING": str(tmp / "nope"), "DIR": str(corpus_root), "FILE": str(recipe), "BAD": bad,
            "OUT": str(tmp / "out")}


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """Commands that fall back to the current folder (plots, runs/) write into a scratch one."""
    monkeypatch.chdir(tmp_path)


def argv(case: str, places: dict) -> list[str]:
    return ["" if word == "''" else word.format(**places) for word in case.split()]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def test_every_command_and_plot_kind_is_fuzzed():
    commands = {case.split()[0] for case in CASES}
    kinds = {case.split()[1] for case in CASES if case.startswith("plot ") and len(case.split()) > 1}
    assert commands == set(COMMANDS) and set(PLOT_KINDS) <= kinds


@pytest.mark.parametrize("case", CASES)
def test_hostile_arguments_exit_2_with_one_line(case, places, capsys):
    code, err = run_cli(argv(case, places), capsys)
    assert code == 2, err
    assert "Traceback" not in err
    ours = [line for line in err.splitlines() if line.startswith("sonogram")]
    assert ours and ": error: " in ours[-1], err
    if not err.startswith("usage:"):  # argparse prints its usage above the error line
        assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(places["OUT"]), "a refused command left files behind"


@pytest.mark.parametrize("case", PREDICT_FILE_ERRORS)
def test_predict_names_each_unreadable_file_and_exits_1(case, places, capsys):
    code, err = run_cli(argv(case, places), capsys)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("sonogram predict: error: ")


TEMPLATES = [[name] for name in COMMANDS if name not in ("plot", "experiments", "synth")] + \
            [["plot", kind] for kind in PLOT_KINDS] + [["experiments", "learn-stft"]] + \
            [["synth", "--voices", "0"]]  # "nan" and "inf" are words: without --voices 0 a line could succeed
HOSTILE = st.sampled_from(["{MISSING}", "{DIR}", "{FILE}", "{BAD}", "''", "0", "-1", "nan", "inf", "1e308",
                           "--bogus", "--out", "--set", "--resume", "--n-fft", "--hop", "--steps", "--seed",
                           "--data-root", "-", "\udcff"])


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(TEMPLATES), words=st.lists(HOSTILE, min_size=1, max_size=4))
def test_generated_hostile_command_lines_never_give_a_traceback(template, words, places, capsys):
    code, err = run_cli(template + argv(" ".join(words), places), capsys)
    assert "Traceback" not in err
    assert code == 2 or (template == ["predict"] and code == 1), (code, err)


@pytest.mark.parametrize("case", ["predict {RUN} {BAD}", "train {BAD}", "plot waveform {BAD}", "evaluate ''"])
def test_a_real_process_prints_one_line(case, places):
    """Through the real entry point: the non-UTF-8 name reaches stderr escaped, not as an encoding crash."""
    result = subprocess.run([sys.executable, "-m", "sonogram", *argv(case, places)], capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    err = result.stderr.decode("utf-8")
    assert result.returncode in (1, 2) and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
