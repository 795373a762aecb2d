"""What listens: the FiftyOne App and the database it starts accept connections from this
machine only, unless `--address` says otherwise."""

from __future__ import annotations

import ipaddress
import uuid

import psutil
import pytest

from tests.app import serving_app

pytestmark = pytest.mark.slow


def listening(pids: set[int], port: int | None = None) -> set[str]:
    """Addresses the processes `pids` listen on (all their TCP sockets if port is None)."""
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid in pids and (port is None or c.laddr.port == port)
    }


def mongod_pids() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "mongod"}


@pytest.mark.parametrize(("args", "loopback_only"), [((), True), (("--address", "0.0.0.0"), False)])
def test_app_and_database_listen_on_loopback_unless_told(split_manifest, tmp_path, args, loopback_only):
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    name = f"maskset-net-{uuid.uuid4().hex[:8]}"
    build_dataset(name, split_manifest, {}, tmp_path)
    try:
        with serving_app(name, *args) as (port, proc):
            tree = {proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))}
            app = listening(tree, port)
            database = listening(mongod_pids())
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
    assert app, "found no listening socket for the App"
    assert all(ipaddress.ip_address(ip).is_loopback for ip in app) == loopback_only, app
    assert database and all(ipaddress.ip_address(ip).is_loopback for ip in database), database
