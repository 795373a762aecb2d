"""HTTP(S) downloads that survive dropped connections and never leave a file a rerun would trust.

Bytes go to `<name>.part`; a sidecar `<name>.part.json` records the URL and the server's
validator (ETag / Last-Modified), so a later run resumes with `Range` + `If-Range` only when
the server still has the same object (a changed object answers 200 and we start over, as
RFC 9110 intends). The finished file is renamed into place atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from pipeline.errors import SourceError

CHUNK = 1 << 18  # what a dropped connection can cost: bytes since the last full chunk
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str
    etag: str | None
    resumed_from: int


@dataclass(frozen=True)
class HttpConfig:
    retries: int = 4
    backoff: float = 0.5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    progress: bool = True


class _Retry(Exception):
    """A transient failure: the partial file is kept and the request repeated."""


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _resume_state(part: Path, url: str) -> tuple[int, str | None]:
    """Bytes already on disk for this URL and the validator they were fetched under."""
    if not part.exists():
        return 0, None
    try:
        meta = json.loads(_sidecar(part).read_text())
    except (OSError, ValueError):
        meta = {}
    if meta.get("url") != url or not meta.get("validator"):
        part.unlink()  # bytes of unknown origin: never append to them
        return 0, None
    return part.stat().st_size, meta["validator"]


def _hash_of(part: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with part.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest


def _fail_fast(url: str, exc: Exception) -> SourceError | None:
    """Errors no retry can fix: say what to do instead of retrying for minutes."""
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return SourceError(
            f"cannot resolve the host of {url}: this machine looks offline. Connect to the network, "
            "or use the offline `demo` source or a `local` source (see the README, Sources)"
        )
    return None


def download(
    url: str,
    dest: Path,
    config: HttpConfig = HttpConfig(),
    session: requests.Session | None = None,
    headers: dict[str, str] | None = None,
) -> Downloaded:
    """Fetch `url` to `dest`, resuming a previous partial download of the same object."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = session or requests.Session()
    last_error: Exception | None = None
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(min(config.backoff * 2 ** (attempt - 1), 30.0))
        try:
            return _attempt(url, dest, part, session, headers or {}, config)
        except _Retry as exc:
            last_error = exc
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            fatal = _fail_fast(url, exc)
            if fatal:
                raise fatal from exc
            last_error = exc
    raise SourceError(
        f"download of {url} failed after {config.retries + 1} attempts ({last_error}); "
        f"{part.stat().st_size if part.exists() else 0} bytes are kept in {part} and the next "
        "run resumes from there"
    )


def _attempt(
    url: str,
    dest: Path,
    part: Path,
    session: requests.Session,
    headers: dict[str, str],
    config: HttpConfig,
) -> Downloaded:
    offset, validator = _resume_state(part, url)
    request_headers = dict(headers)
    if offset and validator:
        request_headers["Range"] = f"bytes={offset}-"
        request_headers["If-Range"] = validator
    timeout = (config.connect_timeout, config.read_timeout)
    with session.get(url, headers=request_headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and offset:
            part.unlink()  # our partial is longer than the object: start again
            raise _Retry(f"HTTP 416 for a resumed range of {url}")
        if response.status_code in RETRY_STATUS:
            raise _Retry(f"HTTP {response.status_code} from {url}")
        if response.status_code >= 400:
            raise SourceError(_status_message(url, response.status_code))
        if response.status_code != 206:
            offset = 0  # the server sent the whole object (no range support, or it changed)
        new_validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if offset == 0:
            _sidecar(part).write_text(json.dumps({"url": url, "validator": new_validator}))
        total = _total_size(response, offset)
        digest = _hash_of(part) if offset else hashlib.sha256()
        mode = "ab" if offset else "wb"
        with (
            part.open(mode) as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=not config.progress,
            ) as bar,
        ):
            for block in response.iter_content(CHUNK):
                f.write(block)
                digest.update(block)
                bar.update(len(block))
            f.flush()
            os.fsync(f.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Retry(f"connection closed at byte {size} of {total}")
    os.replace(part, dest)
    _sidecar(part).unlink(missing_ok=True)
    return Downloaded(dest, size, digest.hexdigest(), new_validator, resumed_from=offset)


def _total_size(response: requests.Response, offset: int) -> int | None:
    if response.status_code == 206:
        content_range = response.headers.get("Content-Range", "")
        if "/" in content_range and not content_range.endswith("/*"):
            return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return int(length) + (offset if response.status_code == 206 else 0) if length else None


def _status_message(url: str, status: int) -> str:
    if status in (401, 403):
        return (
            f"HTTP {status} from {url}: access denied. The source may need credentials or to have "
            "its terms accepted on its web page first (see the README, Sources)"
        )
    if status == 404:
        return (
            f"HTTP 404 from {url}: the file is no longer there. The source may have moved; check its "
            "homepage in datasets/sources.yaml and update the catalog entry"
        )
    return f"HTTP {status} from {url}"
