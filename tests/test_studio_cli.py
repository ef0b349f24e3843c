"""``sonogram studio`` hands its options to the studio and binds to this machine unless told otherwise."""

import pytest

pytest.importorskip("gradio", reason="the studio extra is not installed")

from sonogram.cli import main  # noqa: E402
from sonogram.studio import app  # noqa: E402

pytestmark = pytest.mark.slow  # importing Gradio takes several seconds


def test_studio_serves_on_localhost_by_default(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(app, "launch", lambda *args: calls.append(args))
    assert main(["studio", "--runs", str(tmp_path), "--port", "7999"]) == 0
    assert main(["studio", "--host", "0.0.0.0", "--data-root", "/data"]) == 0
    assert calls == [(str(tmp_path), None, "127.0.0.1", 7999), ("runs", "/data", "0.0.0.0", None)]
