"""One catalog source onto disk: fetch each file, verify it, extract it into datasets/raw/<key>.

Downloaded files live in a cache (datasets/downloads/<key>/, outside DVC's outputs) so that a
rerun resumes a partial file or reuses a verified one instead of fetching gigabytes again.
Every kind ends the same way: a raw folder that ingest reads and a SOURCE.json that records
what was fetched, how it was verified, its licence and citation.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.config import parse
from pipeline.demo import build_demo
from pipeline.errors import SourceError
from pipeline.fetch import archives, gdrive, http, kaggle
from pipeline.fetch.pins import verify
from pipeline.layouts.units import outside_link
from pipeline.sources import Source

KINDS = ("builtin", "http", "gdrive", "kaggle", "manual", "local")
HTTP_DEFAULTS = http.HttpConfig()
ARCHIVE_LIMITS = archives.Limits()


@dataclass(frozen=True)
class FileSpec:
    """One file of a source as the catalog lists it (checksums only where published)."""

    name: str
    url: str | None = None
    id: str | None = None
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    extract: bool = True
    into: str = ""


@dataclass(frozen=True)
class Places:
    downloads: Path  # datasets/downloads/<key>
    lock: Path  # datasets/sources.lock


def file_specs(source: Source) -> list[FileSpec]:
    fetch = source.fetch
    if fetch.get("kind") == "kaggle":
        if not fetch.get("dataset") or fetch["dataset"].count("/") != 1:
            raise SourceError(f"sources.yaml: {source.key}.fetch.dataset must be an owner/slug Kaggle id")
        return [FileSpec(name=f"{fetch['dataset'].split('/')[1]}.zip")]
    return [
        parse(FileSpec, entry, f"{source.key}.fetch.files[{i}]", SourceError, "sources.yaml: ")
        for i, entry in enumerate(fetch.get("files") or [])
    ]


def _fetcher(source: Source, spec: FileSpec, http_config: http.HttpConfig) -> Callable[[Path], str | None]:
    """How to get one file into the cache; returns the server's ETag where there is one."""
    kind = source.fetch["kind"]
    if kind == "http":
        if not spec.url:
            raise SourceError(f"sources.yaml: {source.key} file {spec.name} has no url")
        url = spec.url
        return lambda dest: http.download(url, dest, http_config).etag
    if kind == "gdrive":
        if not (spec.id or spec.url):
            raise SourceError(f"sources.yaml: {source.key} file {spec.name} needs a Drive id or url")
        return lambda dest: gdrive.download_file(dest, file_id=spec.id, url=spec.url)
    if kind == "kaggle":

        def from_kaggle(dest: Path) -> None:
            kaggle.download_dataset(source.fetch["dataset"], dest.parent)

        return from_kaggle

    def manual(dest: Path) -> None:
        raise SourceError(
            f"{source.key} cannot be downloaded automatically: get {spec.name} from "
            f"{spec.url or source.fetch.get('homepage')} in a browser, put it at {dest}, then rerun "
            f"`dvc repro download@{source.key}`"
        )

    return manual


def obtain(source: Source, spec: FileSpec, places: Places, http_config: http.HttpConfig) -> dict:
    """A verified copy of one file in the cache: a cached copy is reused only if it verifies;
    one that does not is quarantined and fetched again, once."""
    path = places.downloads / spec.name
    published = {"size": spec.size, "sha256": spec.sha256, "md5": spec.md5}
    if path.is_file():
        try:
            return verify(path, source.key, spec.name, published, places.lock)
        except SourceError as exc:
            print(f"download@{source.key}: cached copy rejected, fetching again: {exc}")
    etag = _fetcher(source, spec, http_config)(path)
    return verify(path, source.key, spec.name, published, places.lock, etag=etag)


MAX_LOCAL_FILES = 1_000_000
# folders a `local` source must never be: the whole system, or what the system keeps there
SYSTEM_FOLDERS = frozenset(
    {"proc", "sys", "dev", "etc", "usr", "bin", "sbin", "boot", "lib", "lib64", "run", "var"}
)


def inventory(root: Path, limit: int = MAX_LOCAL_FILES) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Files under a local folder (relative path, size, mtime) as ingest will see them, and
    what it will not: linked folders (never followed, so a link loop cannot hang a stage),
    linked files that lead outside the folder, and broken links. More than `limit` files is
    a wrong folder, said at once rather than after walking a whole disk."""
    lines, skipped = [], []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs):
            if os.path.islink(os.path.join(folder, name)):
                skipped.append(os.path.relpath(os.path.join(folder, name), root))
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            try:
                st = os.stat(path)
            except OSError:
                skipped.append(relative)
                continue
            if outside_link(Path(path), root):
                skipped.append(relative)
                continue
            lines.append((relative, st.st_size, st.st_mtime_ns))
            if len(lines) > limit:
                raise SourceError(
                    f"{root} holds more than {limit:,} files: a `local` source is one data set's "
                    "folder, not a disk. Point download.<source>.path at the folder of images"
                )
    return lines, skipped


def local_root(key: str, path: object) -> Path:
    """The folder a `local` source reads, refused when it is the system, a system folder
    or a hidden one (~/.ssh, ~/.config): nothing there is a face data set, and reading
    it would put private files into an inventory and a manifest."""
    root = Path(os.path.expanduser(str(path))).resolve()
    parts = root.parts[1:]
    if not parts or parts[0] in SYSTEM_FOLDERS:
        raise SourceError(f"download.{key}.path: {root} is a system folder; point it at a folder of images")
    if any(part.startswith(".") for part in parts):
        raise SourceError(
            f"download.{key}.path: {root} is (inside) a hidden folder; put the images in a visible one"
        )
    if not root.is_dir():
        raise SourceError(f"download.{key}.path: {root} is not a folder")
    return root


def fetch_source(
    source: Source,
    options: dict,
    target: Path,
    places: Places,
    http_config: http.HttpConfig = HTTP_DEFAULTS,
    limits: archives.Limits = ARCHIVE_LIMITS,
) -> dict:
    """Fill the empty folder `target`; returns the SOURCE.json record."""
    kind = source.fetch.get("kind")
    if kind not in KINDS:
        raise SourceError(f"sources.yaml: {source.key}.fetch.kind must be one of {KINDS}, not {kind!r}")
    record: dict = {"key": source.key, "title": source.title, "kind": kind}
    record |= {"licence": source.licence, "citation": source.citation}
    record["homepage"] = source.fetch.get("homepage")
    if kind == "builtin":
        if source.key != "demo":
            raise SourceError(f"{source.key}: only the `demo` source is built in")
        built = build_demo(target, **options)
        return record | {
            "files": [{"name": n, "checked": "built", "extracted_files": c} for n, c in built.items()]
        }
    if kind == "local":
        return record | _local(source, options, target)
    allowed = {"files", "limit"} if source.fetch.get("index") else {"files"}
    unknown = set(options) - allowed
    if unknown:
        raise SourceError(
            f"params.yaml download.{source.key}: unknown option(s) {sorted(unknown)}; "
            f"known: {sorted(allowed)}"
        )
    wanted = options.get("files")
    specs = [s for s in file_specs(source) if wanted is None or s.name in wanted]
    if not specs:
        raise SourceError(
            f"{source.key}: no files to fetch (check fetch.files and download.{source.key}.files)"
        )
    record["files"] = []
    index_file = (source.fetch.get("index") or {}).get("file")
    for spec in specs:
        checked = obtain(source, spec, places, http_config)
        if spec.name == index_file:  # read from the cache, not part of the data
            record["files"].append({"name": spec.name, **checked, "extracted_files": 0})
            continue
        into = target / spec.into
        into.mkdir(parents=True, exist_ok=True)
        path = places.downloads / spec.name
        n = archives.place(path, into, limits) if spec.extract else _copy(path, into)
        record["files"].append({"name": spec.name, **checked, "extracted_files": n})
        print(f"download@{source.key}: {spec.name} {checked['checked']}, {n} file(s) into {into}")
    if source.fetch.get("index"):
        record["indexed_files"] = _fetch_indexed(source, options.get("limit"), target, places, http_config)
    return record


def index_specs(index_file: Path, entry: str, limit: int | None) -> list[FileSpec]:
    """Files a metadata index lists with their URLs and MD5s (FFHQ's JSON: one Drive file per
    image), in index order, the first `limit` of them."""
    try:
        data = json.loads(Path(index_file).read_text())
        keys = sorted(data, key=lambda k: (len(k), k))
        specs = []
        for key in keys[:limit]:
            item = data[key][entry]
            specs.append(
                FileSpec(
                    name=item["file_path"],
                    url=item["file_url"],
                    size=item.get("file_size"),
                    md5=item.get("file_md5"),
                    extract=False,
                )
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{index_file} is not the index the catalog expects: {exc!r}") from exc
    return specs


def _fetch_indexed(
    source: Source, limit: int | None, target: Path, places: Places, http_config: http.HttpConfig
) -> int:
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise SourceError(f"params.yaml download.{source.key}.limit must be a positive integer")
    index = source.fetch["index"]
    specs = index_specs(places.downloads / index["file"], index["entry"], limit)
    for spec in tqdm(specs, desc=f"download@{source.key}", unit="file"):
        obtain(source, spec, places, http_config)
        dest = target / spec.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(places.downloads / spec.name, dest)
    return len(specs)


def _link_or_copy(src: Path, dest: Path) -> None:
    """Many small cached files: a hard link costs no space; across file systems, copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _copy(path: Path, into: Path) -> int:
    shutil.copy2(path, into / path.name)
    return 1


def _local(source: Source, options: dict, target: Path) -> dict:
    """A folder the user already has: nothing is copied. The raw folder holds an inventory
    (so DVC notices changes after `dvc repro -f download@<key>`) and the root ingest reads."""
    if set(options) != {"path"}:
        raise SourceError(
            f"params.yaml download.{source.key} must set exactly `path:` (the folder holding the data)"
        )
    root = local_root(source.key, options["path"])
    lines, skipped = inventory(root)
    if not lines:
        raise SourceError(f"download.{source.key}.path: {root} holds no files")
    # a real TSV writer: a file name may hold a tab or a newline
    with (target / "INVENTORY.tsv").open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "size", "mtime_ns"])
        writer.writerows(lines)
    for link in skipped:
        print(f"download@{source.key}: not following the linked folder, outside link or broken link {link!r}")
    return {
        "root": str(root),
        "files": [{"name": ".", "checked": "read in place", "extracted_files": len(lines)}],
        "links_not_followed": skipped,
    }


def source_status(catalog: dict[str, Source], enabled: list[str], raw: Path, lock: dict) -> list[dict]:
    """One row per catalog source: what it is, whether params enable it, what is on disk."""
    rows = []
    for key, src in catalog.items():
        record_file = raw / key / "SOURCE.json"
        try:
            record = json.loads(record_file.read_text())
        except (OSError, ValueError):
            record = None
        rows.append(
            {
                "key": key,
                "enabled": key in enabled,
                "kind": src.fetch.get("kind"),
                "published": src.fetch.get("published", ""),
                "downloaded": _on_disk(record),
                "pinned": len(lock.get(key, {})),
                "licence": src.licence,
                "homepage": src.fetch.get("homepage", ""),
            }
        )
    return rows


def file_count(record: dict) -> int:
    """How many files a SOURCE.json record says its source has: `files` is one list of
    {name, checked, extracted_files} for every kind (a local folder is one entry, `.`)."""
    return sum(f["extracted_files"] for f in record.get("files") or []) + record.get("indexed_files", 0)


def _on_disk(record: dict | None) -> str:
    if record is None:
        return "no"
    files = record.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        return "old record"  # written before SOURCE.json had one shape: dvc repro download@<key>
    return f"{file_count(record)} {'in place' if record.get('root') else 'files'}"
