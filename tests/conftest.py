import os
from pathlib import Path

import pytest

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
