import json
import pytest
import subprocess
import sys

from sonogram import __version__
from sonogram.cli import main


def test_version_and_help(capsys):
    result = subprocess.run([sys.executable, "-m", "sonogram", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"sonogram {__version__}"
    assert main([]) == 0
    assert "datasets" in capsys.readouterr().out


def test_datasets_lists_real_counts(shared_data, capsys):
    assert main(["datasets", "--data-root", str(shared_data), "--json"]) == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert (rows["fsdd"]["clips"], rows["fsdd"]["classes"], rows["fsdd"]["speakers"]) == (3000, 10, 6)
    assert (rows["speech_commands_test"]["clips"], rows["speech_commands_test"]["classes"]) == (4890, 12)


def test_user_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sonogram", "download", "fsdd", "--data-root", str(tmp_path)],
                            capture_output=True, text=True, env={"PATH": "", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert result.stderr.startswith("sonogram download: error: could not download") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dataset_detail_shows_speaker_disjoint_folds(shared_data, capsys):
    assert main(["datasets", "fsdd", "--data-root", str(shared_data), "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["per_class"] == {str(d): 300 for d in range(10)}
    assert [f["shared_speakers"] for f in detail["splits"]["loso"]] == [0] * 6
    assert detail["splits"]["official"][0]["test"] == 300


def test_dataset_options_reach_the_loader(tmp_path, capsys):
    from sonogram.data.synth import write_speech_commands

    write_speech_commands(tmp_path, "v0.02", ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                                              "bed"], speakers=["a1", "b2", "c3"], seconds=0.1, noise_seconds=20)
    assert main(["datasets", "speech_commands", "--option", "task=12", "--data-root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == 12
    assert main(["datasets", "speech_commands", "--option", "task=13", "--data-root", str(tmp_path)]) == 2
    assert "unknown task '13'; valid: '12', 'words'" in capsys.readouterr().err
    assert main(["datasets", "fsdd", "--option", "oops", "--data-root", str(tmp_path)]) == 2


def test_design_show_prints_the_layer_table(capsys):
    assert main(["design", "show", "recipes/designs/fftconv.yaml"]) == 0
    out = capsys.readouterr().out
    assert "frontend.1_spectrogram" in out and "(-1, 1, 65, 122)" in out and "total params: 42,324" in out
    assert main(["design", "show", "recipes/designs/rnn_logmel.yaml", "--set", "model.hidden=32", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["design"]["model"]["hidden"] == 32 and shown["params"] == sum(r["params"] for r in shown["layers"])


def test_design_show_matches_a_budget(capsys):
    assert main(["design", "show", "recipes/designs/rnn_logmel.yaml", "--budget", "50000", "--scale", "hidden",
                 "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["params"] - 50_000) < 2_500


def test_design_errors_are_one_line(capsys):
    assert main(["design", "show", "recipes/designs/fftconv.yaml", "--set", "model.conv_size=16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sonogram design: error: model.conv_size=16 is larger than model.frame_size=8 FFT frames it convolves"
    assert main(["design", "show", "missing.yaml"]) == 2
    assert "missing.yaml: no such config file" in capsys.readouterr().err


def test_help_names_every_dataset_and_download(capsys):
    from sonogram.data import LOADERS, SOURCES

    for command, names in (("datasets", LOADERS), ("download", SOURCES)):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(name in text for name in names), (command, text)
