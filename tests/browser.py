"""Headless Debian Chromium for tests that check what a person would see in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# on a closed network Chromium retries Google's hosts at every start without these flags
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
    "--virtual-time-budget=20000",
]


def render(url: str, screenshot: str, ready=lambda dom: True, attempts: int = 5) -> str:
    """The page's DOM after its scripts ran, once `ready(dom)` holds (a single-page app may
    still be fetching its data when the first load settles: it is loaded again, up to
    `attempts` times); a screenshot of that state is kept in test-artifacts/."""
    with tempfile.TemporaryDirectory() as profile:
        browser = [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}"]
        for _ in range(attempts):
            dom = subprocess.run(
                [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120
            ).stdout
            if ready(dom):
                break
            time.sleep(3)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / screenshot
        subprocess.run([*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000, "a blank page"
    return dom


def text_of(dom: str) -> str:
    """Visible text, tags and styles stripped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", dom, flags=re.S)))
