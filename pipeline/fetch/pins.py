"""Checksums: the published ones from the catalog, and the pins of datasets/sources.lock.

Most face-mask sources publish no checksum. The first successful download of such a file
pins its sha256 and size in the lock file (commit it, as you would dvc.lock); every later
download must match the pin, the way `dvc import-url` pins an ETag. A file that matches
neither is moved to `quarantine/` and never used.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import yaml

from pipeline.atomic import atomic_path
from pipeline.errors import SourceError

CHUNK = 1 << 20
HEADER = (
    "# Pinned checksums of downloaded source files without a published checksum, written by\n"
    "# download@<source> on first download and verified on every later one. Commit this file.\n"
    "# To accept a new upstream version of a file, delete its entry and rerun the stage.\n"
)


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    digests = {name: hashlib.new(name) for name in algorithms}
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def read_lock(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read the lock file {path}: {exc}; fix or delete it") from exc
    return data or {}


def write_pin(lock_path: Path, key: str, name: str, pin: dict) -> None:
    lock = read_lock(lock_path)
    lock.setdefault(key, {})[name] = pin
    with atomic_path(Path(lock_path)) as tmp:
        tmp.write_text(HEADER + yaml.safe_dump(lock, sort_keys=True))


def quarantine(path: Path) -> Path:
    """Move a file that failed verification aside, where no stage will read it."""
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}.{time.time_ns() % 10**9:09d}"
    target = path.parent / "quarantine" / f"{path.name}.{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    return target


def verify(
    path: Path, key: str, name: str, published: dict, lock_path: Path, etag: str | None = None
) -> dict:
    """Check a downloaded file against its published checksum or its pin, pinning it when it
    has neither. Returns what was checked; raises SourceError (file quarantined) on mismatch."""
    wanted = {a: published[a] for a in ("sha256", "md5") if published.get(a)}
    digests = file_digests(path, tuple(sorted({"sha256", *wanted})))
    size = Path(path).stat().st_size
    pin = read_lock(lock_path).get(key, {}).get(name)
    problems = []
    if published.get("size") is not None and size != int(published["size"]):
        problems.append(f"size {size:,} bytes, the source publishes {int(published['size']):,}")
    problems += [f"{a} {digests[a]}, the source publishes {v}" for a, v in wanted.items() if digests[a] != v]
    if pin and not wanted and digests["sha256"] != pin.get("sha256"):
        problems.append(f"sha256 {digests['sha256']}, pinned in {lock_path} as {pin.get('sha256')}")
    if problems:
        moved = quarantine(Path(path))
        raise SourceError(
            f"{key}/{name} failed verification ({'; '.join(problems)}). It was moved to {moved} "
            "and will not be used. Rerun to download it again; if the source has published a new "
            f"version on purpose, delete the {key}/{name} entry of {lock_path} to re-pin it"
        )
    if wanted:
        return {"sha256": digests["sha256"], "size": size, "checked": f"published {'+'.join(wanted)}"}
    if pin:
        return {"sha256": digests["sha256"], "size": size, "checked": "lock pin"}
    write_pin(
        lock_path,
        key,
        name,
        {"sha256": digests["sha256"], "size": size, "etag": etag, "pinned": time.strftime("%Y-%m-%d")},
    )
    return {"sha256": digests["sha256"], "size": size, "checked": "pinned now"}
