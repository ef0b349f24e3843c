"""The README's examples run as written: every ``sonogram`` command of its bash blocks and every Python
block, on a tiny synthetic FSDD in a scratch folder (training commands get ``--set train.epochs=1``)."""

import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sonogram.cli import main
from sonogram.data.synth import tone_clip, write_fsdd, write_speech_commands_test_set

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

# Lines that need hardware this machine lacks (the 2-process CPU DDP line is tested in test_train.py).
NEEDS_HARDWARE = ("accelerator=gpu", "devices=4", "strategy=ddp", "--mic")
NEEDS_NETWORK = ("sonogram download",)
RUNS_UNTIL_STOPPED = ("sonogram serve", "sonogram studio")  # started for real in test_serve.py / test_studio_*
TRAINS = ("sonogram train ", "sonogram cv ", "sonogram lr-find ", "sonogram plot lr-find ")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def shell_commands() -> list[str]:
    commands = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("sonogram ") and not any(k in line for k in NEEDS_HARDWARE + NEEDS_NETWORK
                                                        + RUNS_UNTIL_STOPPED):
                commands.append(re.sub(r"\s*\[[^\]]*\]", "", line))  # optional [--flags] left out
    return commands


def test_the_readme_has_examples_to_run():
    assert len(shell_commands()) >= 19 and len(blocks("python")) >= 3


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A working folder with a tiny data root, the repository's recipes, and the files examples name."""
    work = tmp_path_factory.mktemp("readme")
    data = work / "data"
    write_fsdd(data, speakers=("nicolas", "theo", "jackson"), takes=6, seconds=0.4)
    write_speech_commands_test_set(data, speakers=[f"{i:08x}" for i in range(6)], silences=6)  # for fsdd_kws
    (work / "recipes").symlink_to(REPO / "recipes")
    rng = np.random.default_rng(0)
    soundfile.write(work / "clip.wav", np.concatenate([tone_clip(2, 0, 8000, 0.4, rng), tone_clip(7, 0, 8000, 0.4, rng)]),
                    8000)
    soundfile.write(work / "one.wav", tone_clip(4, 0, 16000, 0.4, rng), 16000)
    (work / "my_digits").mkdir()
    for digit in (1, 5):
        soundfile.write(work / "my_digits" / f"{digit}.flac", tone_clip(digit, 1, 8000, 0.4, rng), 8000)
    return work


@pytest.mark.slow
def test_readme_shell_examples_run(scratch, monkeypatch, capsys):
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("SONOGRAM_DATA", str(scratch / "data"))
    for command in shell_commands():
        if "my_words" in command and shutil.which("espeak-ng") is None:  # sonogram synth's example
            continue
        if command.startswith("sonogram plot curves") and not Path("runs/a").exists():
            shutil.copytree("runs/fsdd", "runs/a")
            shutil.copytree("runs/short", "runs/b")
        argv = shlex.split(os.path.expandvars(command), comments=True)[1:]
        if command.startswith(TRAINS) and "--resume" not in argv:
            argv += ["--set", "train.epochs=1"]
        if "lr-find" in argv:
            argv += ["--steps", "20"]
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, f"{command}: exit {code}: {err}"
        assert "Traceback" not in err, command


@pytest.mark.slow
def test_readme_python_examples_run(scratch, monkeypatch, capsys):
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("SONOGRAM_DATA", str(scratch / "data"))
    if not Path("runs/fsdd").exists():
        assert main(["train", "fsdd", "--set", "train.epochs=1", "--out", "runs/fsdd"]) == 0
    for block in blocks("python"):
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "torch.Size([2, 1, 40, 101])" in out and "runs/notebook" in out
    assert "'key': 'model.channels'" in out or "'key': 'model'" in out
