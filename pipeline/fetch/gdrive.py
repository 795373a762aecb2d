"""Google Drive files through gdown (it handles Drive's virus-scan confirmation page)."""

from __future__ import annotations

from pathlib import Path

import requests

from pipeline.errors import SourceError


def download_file(dest: Path, file_id: str | None = None, url: str | None = None, retries: int = 4) -> None:
    """Fetch one Drive file (by id or share URL) to `dest`, resuming a partial download."""
    import gdown
    from gdown.exceptions import FileURLRetrievalError

    where = file_id or url
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
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SourceError(
            f"cannot reach Google Drive for {where} ({type(exc).__name__}); this machine looks "
            "offline. Connect, or use the `demo` or a `local` source"
        ) from None
    if not result or not dest.is_file():
        raise SourceError(f"gdown did not produce {dest} for {where}")
