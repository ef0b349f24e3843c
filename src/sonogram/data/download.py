"""Fetch a dataset archive, verify its checksum and unpack it without letting it write outside its folder."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sonogram.data.base import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """A downloadable archive. ``sha256=None`` where the publisher gives no checksum (the hash is logged)."""

    url: str
    sha256: str | None
    folder: str  # name of the dataset's folder under the data root once unpacked
    strip_prefix: str = ""  # leading folder inside the archive to drop (GitHub archives add one)


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file, then rename) and verify its SHA-256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        actual = sha256sum(tmp)
        if sha256 is None:
            log.warning("%s has no published checksum; downloaded file has sha256 %s", url, actual)
        elif actual != sha256:
            raise DatasetError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}")
        os.replace(tmp, dest)
    except OSError as exc:
        raise DatasetError(f"could not download {url}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _safe_target(root: Path, member_name: str, strip_prefix: str) -> Path | None:
    """Where a member unpacks to, or ``None`` for the stripped top folder; raises on escapes."""
    name = member_name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(f"refusing archive member with an absolute path: {member_name!r}")
    if strip_prefix:
        if name.rstrip("/") == strip_prefix.rstrip("/"):
            return None
        if not name.startswith(strip_prefix):
            raise DatasetError(f"archive member {member_name!r} is outside the expected folder {strip_prefix!r}")
        name = name[len(strip_prefix) :]
    if name.strip("/") in ("", "."):
        return None
    target = (root / name).resolve()
    if root not in target.parents:
        raise DatasetError(f"refusing archive member that escapes the target folder: {member_name!r}")
    return target


def _members(archive: Path, stack: contextlib.ExitStack) -> list[tuple[str, bool, Callable[[], IO[bytes]] | None]]:
    """``(name, is_dir, open)`` for every member of a tar or zip; raises on links and special files."""
    if tarfile.is_tarfile(archive):
        tar = stack.enter_context(tarfile.open(archive))
        members = []
        for m in tar.getmembers():
            if not (m.isfile() or m.isdir()):
                raise DatasetError(f"refusing archive member that is a link or special file: {m.name!r}")
            members.append((m.name, m.isdir(), lambda m=m: tar.extractfile(m)))
        return members
    if zipfile.is_zipfile(archive):
        zf = stack.enter_context(zipfile.ZipFile(archive))
        members = []
        for info in zf.infolist():
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise DatasetError(f"refusing archive member that is a link: {info.filename!r}")
            members.append((info.filename, info.is_dir(), lambda info=info: zf.open(info)))
        return members
    raise DatasetError(f"{archive}: not a tar or zip archive")


def extract(archive: Path, target: Path, strip_prefix: str = "") -> Path:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip into ``target``.

    Refuses absolute paths, ``..`` components, links and device files, checking every
    member before anything is written. Unpacks into a temporary sibling folder and renames it
    into place, so an interrupted extraction never leaves a half-filled dataset folder.
    """
    target = target.resolve()
    if target.exists():
        raise DatasetError(f"{target} already exists; remove it to unpack again")
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.")).resolve()
    try:
        with contextlib.ExitStack() as stack:
            members = _members(archive, stack)
            destinations = [_safe_target(staging, name, strip_prefix) for name, _, _ in members]
            for (_, is_dir, open_member), dest in zip(members, destinations):
                if dest is None or is_dir:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open_member() as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download_and_extract(source: Source, data_root: Path) -> Path:
    """Fetch ``source`` into ``data_root`` and unpack it as ``data_root / source.folder``."""
    try:
        data_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the data root {data_root}: {exc.strerror or exc}") from None
    archive_name = source.url.rstrip("/").rsplit("/", 1)[-1]
    archive = fetch(source.url, data_root / f".{archive_name}", source.sha256)
    try:
        return extract(archive, data_root / source.folder, source.strip_prefix)
    finally:
        archive.unlink(missing_ok=True)
