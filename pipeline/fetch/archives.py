"""Extract zip and tar archives from the internet without trusting them.

Every member is checked before a byte is written: no absolute paths, no `..`, no links,
devices or FIFOs; the member count, the total size and the compression ratio are capped
against archive bombs; and the bytes actually written are counted, because headers lie.
One hostile member refuses the whole archive: callers extract into a temporary directory
that disappears with the error.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from pipeline.errors import MasksetError

CHUNK = 1 << 20


class ArchiveError(MasksetError):
    """An archive is corrupt or hostile; nothing of it is used."""


@dataclass(frozen=True)
class Limits:
    max_members: int = 500_000
    max_bytes: int = 200 * 2**30
    max_ratio: float = 200.0  # uncompressed / compressed, per zip member and per archive


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    compressed: int | None
    is_dir: bool


def is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


def safe_relative(name: str) -> PurePosixPath:
    """The member name as a path that stays inside the target, or ArchiveError."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path")
    if ".." in path.parts:
        raise ArchiveError(f"member {name!r} climbs out of the target with '..'")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise ArchiveError(f"member {name!r} has an empty path")
    if any("\x00" in p for p in parts):
        raise ArchiveError(f"member {name!r} has a NUL byte in its name")
    return PurePosixPath(*parts)


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[Member, zipfile.ZipInfo]]:
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no type
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"member {info.filename!r} is a symbolic link; links are refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"member {info.filename!r} is not a regular file or folder")
        yield Member(info.filename, info.file_size, info.compress_size, info.is_dir()), info


def _tar_members(archive: tarfile.TarFile) -> Iterator[tuple[Member, tarfile.TarInfo]]:
    for info in archive:
        if info.issym() or info.islnk():
            raise ArchiveError(
                f"member {info.name!r} is a {'symbolic' if info.issym() else 'hard'} link "
                f"to {info.linkname!r}; links are refused"
            )
        if not (info.isfile() or info.isdir()):
            raise ArchiveError(f"member {info.name!r} is a device, FIFO or other special file")
        yield Member(info.name, info.size, None, info.isdir()), info


def _check(members: list[Member], archive_size: int, limits: Limits, name: str) -> None:
    if len(members) > limits.max_members:
        raise ArchiveError(f"{name} has {len(members)} members, over the limit of {limits.max_members}")
    total = sum(m.size for m in members)
    if total > limits.max_bytes:
        raise ArchiveError(f"{name} would expand to {total:,} bytes, over the limit of {limits.max_bytes:,}")
    if archive_size and total / archive_size > limits.max_ratio and total > 64 * 2**20:
        raise ArchiveError(
            f"{name} would expand {total / archive_size:.0f}-fold ({total:,} bytes): an archive bomb"
        )
    for m in members:
        if m.compressed and m.size > 64 * 2**20 and m.size / m.compressed > limits.max_ratio:
            raise ArchiveError(f"member {m.name!r} of {name} expands {m.size / m.compressed:.0f}-fold")


@contextmanager
def _open(path: Path) -> Iterator[tuple[str, zipfile.ZipFile | tarfile.TarFile]]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                yield "zip", archive
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                yield "tar", archive
        else:
            raise ArchiveError(f"{path.name} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path.name} is corrupt or truncated: {exc}") from exc


def _copy_capped(src: IO[bytes], dest: Path, declared: int, budget: list[int], member: str) -> None:
    """Copy at most `declared` bytes (and at most the archive's remaining budget)."""
    written = 0
    with dest.open("wb") as out:
        for block in iter(lambda: src.read(CHUNK), b""):
            written += len(block)
            budget[0] -= len(block)
            if written > declared or budget[0] < 0:
                raise ArchiveError(f"member {member!r} expands past its declared size: an archive bomb")
            out.write(block)


def extract(path: Path, target: Path, limits: Limits = Limits()) -> int:
    """Extract `path` into the existing directory `target`; returns the number of files."""
    path, target = Path(path), Path(target)
    root = target.resolve()
    with _open(path) as (kind, archive):
        try:
            pairs = list(_zip_members(archive) if kind == "zip" else _tar_members(archive))  # type: ignore[arg-type]
            members = [m for m, _ in pairs]
            _check(members, path.stat().st_size, limits, path.name)
            dests = [target.joinpath(*safe_relative(m.name).parts) for m in members]
            for member, dest in zip(members, dests, strict=True):
                if not dest.resolve().is_relative_to(root):
                    raise ArchiveError(f"member {member.name!r} resolves outside the target")
            budget = [limits.max_bytes]
            files = 0
            for (member, info), dest in zip(pairs, dests, strict=True):
                if member.is_dir:
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.exists():
                    raise ArchiveError(f"member {member.name!r} appears twice in {path.name}")
                if kind == "zip":
                    with archive.open(info) as src:  # type: ignore[arg-type,call-overload]
                        _copy_capped(src, dest, member.size, budget, member.name)
                else:
                    src = archive.extractfile(info)  # type: ignore[union-attr,arg-type]
                    if src is None:
                        raise ArchiveError(f"member {member.name!r} has no data")
                    with src:
                        _copy_capped(src, dest, member.size, budget, member.name)
                files += 1
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, RuntimeError) as exc:
            raise ArchiveError(f"{path.name} is corrupt or truncated: {exc}") from exc
    return files


def place(path: Path, target: Path, limits: Limits = Limits()) -> int:
    """An archive is extracted; any other file is copied in as it is."""
    if is_archive(path):
        return extract(path, target, limits)
    shutil.copy2(path, Path(target) / path.name)
    return 1
