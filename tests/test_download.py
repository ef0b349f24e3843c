import hashlib
import io
import tarfile
import zipfile

import pytest

from sonogram.data import DatasetError, load_dataset
from sonogram.data.download import Source, download_and_extract, extract, fetch
from sonogram.data.synth import write_fsdd


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_download_verify_and_extract_a_real_archive(tmp_path):
    write_fsdd(tmp_path / "src", speakers=["ann", "bob", "cy"], takes=1, seconds=0.1)
    archive = tmp_path / "fsdd-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "fsdd", arcname="free-spoken-digit-dataset-1.0")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    source = Source(archive.as_uri(), digest, "fsdd", "free-spoken-digit-dataset-1.0/")
    root = tmp_path / "root"
    assert download_and_extract(source, root) == (root / "fsdd").resolve()
    assert len(load_dataset("fsdd", root)) == 30
    assert [p.name for p in root.iterdir()] == ["fsdd"]  # archive and staging folders are gone


def test_checksum_mismatch_keeps_nothing(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", {"x.txt": b"x"})
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch(archive.as_uri(), tmp_path / "out" / "a.tar.gz", "0" * 64)
    assert list((tmp_path / "out").iterdir()) == []


def test_unreachable_url_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="could not download"):
        fetch((tmp_path / "nope.tar.gz").as_uri(), tmp_path / "a.tar.gz", None)


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/evil.txt", "ok/../../escape.txt"])
def test_tar_paths_escaping_target_are_refused(tmp_path, evil):
    archive = _tar(tmp_path / "evil.tar.gz", {"ok/fine.txt": b"fine", evil: b"gotcha"})
    with pytest.raises(DatasetError, match="refusing"):
        extract(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists() and not (tmp_path / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.tar.gz"]


def test_tar_links_are_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(DatasetError, match="link or special file"):
        extract(archive, tmp_path / "target")


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/ok.txt", "ok")
        zf.writestr("../../evil.txt", "evil")
    with pytest.raises(DatasetError, match="escapes the target folder"):
        extract(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_zip_extracts_with_prefix_stripped(tmp_path):
    archive = tmp_path / "repo.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("AudioMNIST-master/", "")
        zf.writestr("AudioMNIST-master/data/01/0_01_0.wav", "x")
    out = extract(archive, tmp_path / "AudioMNIST", "AudioMNIST-master/")
    assert (out / "data" / "01" / "0_01_0.wav").read_text() == "x"


def test_not_an_archive(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"plain bytes")
    with pytest.raises(DatasetError, match="not a tar or zip"):
        extract(tmp_path / "a.bin", tmp_path / "t")
