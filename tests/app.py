"""The FiftyOne App as `maskset app` serves it, in a process group of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_closes(port: int, within: float = 15.0) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:`port` any more, polled until `within`
    seconds have passed (a server's children may close their socket a moment after it exits)."""
    ends = time.monotonic() + within
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        if time.monotonic() > ends:
            return False
        time.sleep(0.2)


class ServedApp(subprocess.Popen):
    """The `maskset app` process, its output in a file (a pipe nobody reads fills up and
    blocks the server) whose last lines go into failure messages."""

    log: Path

    def log_tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "maskset app log, last lines:\n" + "\n".join(text.splitlines()[-lines:])


def listeners(port: int) -> set[int]:
    """The pids listening on `port`."""
    return {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    }


@contextmanager
def serving_app(name: str, *args: str, until: str = "answers") -> Iterator[tuple[int, ServedApp]]:
    """(port, process) once the App answers on 127.0.0.1 (`until="listens"`: as soon as its
    server listens, while the App may still be connecting its session); killed with its
    group after."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="maskset-app-", suffix=".log")[1])
    with log.open("w") as out:
        proc = ServedApp(
            [sys.executable, "-m", "stages.cli", "app", "--dataset", name, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ | {"FIFTYONE_DO_NOT_TRACK": "true"},
        )
    proc.log = log
    try:
        deadline, status = time.time() + 90, None
        while until == "listens" and time.time() < deadline and not listeners(port):
            time.sleep(0.1)
        while until == "answers" and time.time() < deadline and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
            except OSError:
                time.sleep(1)
        ready = listeners(port) if until == "listens" else status == 200
        assert ready, f"the App did not {until[:-1]} within 90 s\n{proc.log_tail()}"
        yield port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.unlink(missing_ok=True)
