import json
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
