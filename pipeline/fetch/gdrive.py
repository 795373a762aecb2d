"""Google Drive files through gdown (it handles Drive's virus-scan confirmation page)."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import requests

from pipeline.errors import SourceError


def download_file(dest: Path, file_id: str | None = None, url: str | None = None, retries: int = 4) -> None:
    """Fetch one Drive file (by id or share URL) to `dest`, resuming a partial download."""
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError

    where = file_id or url
    host = "drive.google.com" if file_id else urlparse(str(url)).hostname or ""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        raise SourceError(
            f"cannot resolve {host}: this machine looks offline. Connect to the network, or use the "
            "offline `demo` source or a `local` source (see the README, Sources)"
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = gdown.download(
            id=file_id,
            url=None if file_id else url,
            output=str(dest),
            quiet=False,
            resume=True,
            retries=retries,
            timeout=(10, 60),
        )
    except FileURLRetrievalError as exc:
        raise SourceError(
            f"Google Drive refused {where}: {str(exc).splitlines()[0]}. Drive limits how often a "
            "public file may be downloaded per day; try again later, or download it in a browser "
            f"and put it at {dest}"
        ) from None
    except (DownloadError, requests.ConnectionError, requests.Timeout) as exc:
        raise SourceError(
            f"cannot download {where} from {host} ({str(exc).splitlines()[0][:200]}); a partial file "
            "is kept and the next run resumes it"
        ) from None
    if not result or not dest.is_file():
        raise SourceError(f"gdown did not produce {dest} for {where}")
