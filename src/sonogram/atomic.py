"""Files that are either completely written or not there at all.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(path, "w") as f:
    ...     _ = f.write("done")
    >>> path.read_text()
    'done'
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sonogram.errors import RunError


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write through a temporary file beside ``path``; fsync and rename on success, remove it on any error.

    A crash or Ctrl-C mid-write leaves the previous ``path`` (or none) intact, never a torn file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def orphaned_temporaries(folder: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Temporary files :func:`atomic_write` left in ``folder`` for ``pattern`` when its process was killed
    (``kill -9``, a power cut): those whose writing process is no longer alive."""
    orphans = []
    for tmp in Path(folder).glob(f".{pattern}.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            orphans.append(tmp)
    return orphans


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` atomically; a failure (disk full, no permission) is a :class:`RunError` naming the file."""
    try:
        with atomic_write(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise write_error(path, exc, f"{len(data):,} bytes") from None


def write_error(path: str | os.PathLike, exc: Exception, needed: str = "") -> RunError:
    """The one-line error for a file that could not be written: which file, why, what it needed (e.g.
    ``"1,024 bytes"``) and what was free."""
    path = Path(path)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip().splitlines()[0]
    folder = next((p for p in (path.parent, *path.parents) if p.is_dir()), None)
    free = f"{shutil.disk_usage(folder).free:,} bytes free there" if folder is not None else ""
    sizes = ", ".join(part for part in (needed, free) if part)
    return RunError(f"could not write {path}{f' ({sizes})' if sizes else ''}: {reason}")
