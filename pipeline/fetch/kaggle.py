"""Kaggle datasets through Kaggle's official client, with credentials checked up front.

The client exits the process when it finds no credentials and prints help to stdout; we look
for them first (the same places the client reads) so that a missing token is a clear error
within a second. Credential values are never printed, logged or written anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests

from pipeline.errors import SourceError

HELP = (
    "Kaggle credentials are missing. Create an API token at https://www.kaggle.com/settings "
    "(API, 'Create New Token') and either save kaggle.json to ~/.kaggle/kaggle.json (chmod 600) or "
    "export KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN). Some datasets also need their "
    "rules accepted on their Kaggle page first."
)


def _config_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        dirs.append(Path(os.environ["KAGGLE_CONFIG_DIR"]))
    home = Path.home()
    dirs.append(home / ".kaggle")
    dirs.append(Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle")
    return dirs


def credentials_source() -> str:
    """Where the Kaggle client will find credentials (a description, never the values)."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for folder in _config_dirs():
        for name in ("kaggle.json", "access_token"):
            if (folder / name).is_file():
                return str(folder / name)
    raise SourceError(HELP)


def _redact(text: str) -> str:
    for var in ("KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        secret = os.environ.get(var)
        if secret:
            text = text.replace(secret, "***")
    return text


def download_dataset(slug: str, folder: Path) -> Path:
    """Download the dataset's zip into `folder` (resuming a partial one); returns its path.
    Without credentials, a zip already downloaded by hand, put where this would write it,
    is used instead (pipeline/download.obtain verifies and pins it before asking Kaggle)."""
    try:
        credentials_source()
    except SourceError as exc:
        zip_path = folder / f"{slug.split('/')[1]}.zip"
        raise SourceError(
            f"{exc} Or, with no credentials at all: download the dataset's zip from "
            f"https://www.kaggle.com/datasets/{slug} in a browser and put it at {zip_path}"
        ) from None
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        api.authenticate()
    except SystemExit as exc:
        raise SourceError(HELP) from exc
    folder.mkdir(parents=True, exist_ok=True)
    try:
        api.dataset_download_files(slug, path=str(folder), quiet=False, unzip=False)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise SourceError(
                f"Kaggle refused the download of {slug} (HTTP {status}): check the credentials, and "
                f"accept the dataset's rules at https://www.kaggle.com/datasets/{slug} if it has any"
            ) from None
        if status == 404:
            raise SourceError(f"Kaggle has no dataset {slug!r} (HTTP 404): check the catalog slug") from None
        raise SourceError(f"Kaggle download of {slug} failed: {_redact(str(exc))}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SourceError(
            f"cannot reach Kaggle for {slug}: {_redact(type(exc).__name__)}. This machine looks "
            "offline; connect, or use the `demo` or a `local` source"
        ) from None
    path = folder / f"{slug.split('/')[1]}.zip"
    if not path.is_file():
        raise SourceError(f"the Kaggle client finished but {path} is missing")
    return path
