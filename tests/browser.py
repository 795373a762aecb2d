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
# no network at all, so a page that still needs a CDN shows it: every host fails to resolve
# and anything that would go out anyway is sent to a closed port
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def dump_dom(url: str, offline: bool = False) -> str:
    """The DOM after one headless load (scripts run in virtual time, up to 20 s)."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [*_browser(profile, offline), "--dump-dom", url], capture_output=True, text=True, timeout=120
        ).stdout


def _browser(profile: str, offline: bool) -> list[str]:
    return [CHROMIUM, *HEADLESS, *(OFFLINE if offline else []), f"--user-data-dir={profile}"]


def title_of(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, re.S)
    return found.group(1).strip() if found else "(no title)"


def render(
    url: str,
    screenshot: str,
    ready=lambda dom: True,
    deadline: float = 180.0,
    diagnose=lambda: "",
    min_bytes: int = 10_000,
    offline: bool = False,
) -> str:
    """The page's DOM once `ready(dom)` holds and a screenshot of it is not blank, polled
    until `deadline` seconds have passed: a single-page app under load may take a while to
    fetch its data, so the check waits for what a person would see, not for a fixed time.
    Each poll is a fresh headless load (Chromium's command line has no "wait for"). The
    failure says what was seen: the title, whether `ready` held, the screenshot's size and
    `diagnose()` (e.g. the server's log)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / screenshot
    ends = time.monotonic() + deadline
    dom, size, polls = "", 0, 0
    with tempfile.TemporaryDirectory() as profile:
        browser = _browser(profile, offline)
        while True:
            polls += 1
            dom = subprocess.run(
                [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120
            ).stdout
            if ready(dom):
                shot.unlink(missing_ok=True)
                subprocess.run([*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120)
                size = shot.stat().st_size if shot.exists() else 0
                if size > min_bytes:
                    return dom
            if time.monotonic() > ends:
                break
            time.sleep(2)
    raise AssertionError(
        f"{url} was not ready after {deadline:.0f} s ({polls} loads): title {title_of(dom)!r}, "
        f"ready={ready(dom)}, screenshot {size} bytes (blank under {min_bytes}); "
        f"text: {text_of(dom)[:300]!r}\n{diagnose()}"
    )


def text_of(dom: str) -> str:
    """Visible text, tags and styles stripped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", dom, flags=re.S)))
