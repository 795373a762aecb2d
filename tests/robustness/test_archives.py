"""Safe extraction: real zip and tar files built with hostile members."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline.fetch.archives import ArchiveError, Limits, extract


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.fixture
def box(tmp_path) -> tuple[Path, Path]:
    """An archive folder and an empty target inside a sandbox we can check for escapes."""
    (tmp_path / "sandbox" / "target").mkdir(parents=True)
    return tmp_path, tmp_path / "sandbox" / "target"


def sandbox_files(tmp_path: Path) -> list[str]:
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())


def test_good_archives_extract_with_unicode_and_spaces(box):
    tmp, target = box
    members = {"Face Mask Dataset/Train/WithMask/1 a.png": b"one", "données/été.jpg": b"two"}
    assert extract(make_zip(tmp / "a.zip", members), target) == 2
    assert (target / "données" / "été.jpg").read_bytes() == b"two"
    target2 = tmp / "sandbox" / "t2"
    target2.mkdir()
    assert extract(make_tar(tmp / "a.tar.gz", list(members.items())), target2) == 2
    assert (target2 / "Face Mask Dataset/Train/WithMask/1 a.png").read_bytes() == b"one"


@pytest.mark.parametrize(
    ("name", "message"),
    [("../evil.txt", r"climbs out"), ("a/../../evil.txt", r"climbs out"), ("/tmp/evil.txt", "absolute")],
)
def test_zip_slip_and_tar_slip_are_refused(box, name, message):
    tmp, target = box
    with pytest.raises(ArchiveError, match=message):
        extract(make_zip(tmp / "a.zip", {"ok.txt": b"fine", name: b"pwned"}), target)
    with pytest.raises(ArchiveError, match=message):
        extract(make_tar(tmp / "a.tgz", [("ok.txt", b"fine"), (name, b"pwned")]), target)
    assert not any("evil" in f for f in sandbox_files(tmp))
    assert not Path("/tmp/evil.txt").exists()


def test_links_and_special_files_are_refused(box):
    tmp, target = box
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(make_zip(tmp / "a.zip", {"ok.txt": b"x"}, symlinks={"etc": "/etc"}), target)
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(make_tar(tmp / "s.tar", [link("etc", "/etc", tarfile.SYMTYPE)], "w"), target)
    with pytest.raises(ArchiveError, match="hard link"):
        extract(make_tar(tmp / "h.tar", [link("passwd", "/etc/passwd", tarfile.LNKTYPE)], "w"), target)
    device = tarfile.TarInfo("null")
    device.type = tarfile.CHRTYPE
    with pytest.raises(ArchiveError, match="device"):
        extract(make_tar(tmp / "d.tar", [device], "w"), target)
    assert list(target.iterdir()) == []


def test_archive_bombs_are_stopped(box):
    tmp, target = box
    zeros = bytes(100 * 2**20)
    with pytest.raises(ArchiveError, match="fold"):
        extract(make_zip(tmp / "bomb.zip", {"zeros.bin": zeros}), target)
    with pytest.raises(ArchiveError, match="over the limit"):
        extract(make_tar(tmp / "bomb.tgz", [("zeros.bin", zeros)]), target, Limits(max_bytes=50 * 2**20))
    many = {f"f{i}.txt": b"" for i in range(50)}
    with pytest.raises(ArchiveError, match="50 members"):
        extract(make_zip(tmp / "many.zip", many), target, Limits(max_members=20))
    assert list(target.iterdir()) == []


def test_corrupt_and_truncated_archives_are_reported(box):
    tmp, target = box
    good = make_zip(tmp / "a.zip", {"a.bin": bytes(range(256)) * 4000})
    truncated = tmp / "t.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ArchiveError):
        extract(truncated, target)
    text = tmp / "notes.zip"
    text.write_text("<html>quota exceeded</html>")
    with pytest.raises(ArchiveError, match="neither a zip nor a tar"):
        extract(text, target)
