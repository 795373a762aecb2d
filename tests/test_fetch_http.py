"""The HTTP downloader against a real server on 127.0.0.1: resume, retries, errors."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import pytest

from pipeline.errors import SourceError
from pipeline.fetch.http import HttpConfig, download
from tests.fileserver import FileServer

FAST = HttpConfig(retries=3, backoff=0.01, progress=False)
DATA = os.urandom(3 * 2**20 + 12345)  # several chunks, not a multiple of the chunk size


def test_full_download_is_atomic_and_hashed(tmp_path):
    with FileServer({"/a.bin": DATA}) as server:
        got = download(server.url("/a.bin"), tmp_path / "a.bin", FAST)
    assert (tmp_path / "a.bin").read_bytes() == DATA
    assert got.sha256 == hashlib.sha256(DATA).hexdigest()
    assert got.size == len(DATA) and got.resumed_from == 0 and got.etag
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]  # no .part left behind


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path):
    with FileServer({"/a.bin": DATA}) as server:
        server.faults.drop_after["/a.bin"] = 1_500_000
        got = download(server.url("/a.bin"), tmp_path / "a.bin", FAST)
        ranges = [h.get("Range") for _, _, h in server.log]
    assert (tmp_path / "a.bin").read_bytes() == DATA
    assert got.sha256 == hashlib.sha256(DATA).hexdigest()
    assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0
    assert got.resumed_from == int(ranges[1][6:-1])


def test_partial_from_an_earlier_run_resumes_and_changed_upstream_restarts(tmp_path):
    dest = tmp_path / "a.bin"
    with FileServer({"/a.bin": DATA}) as server:
        server.faults.drop_after["/a.bin"] = 1_000_000
        with pytest.raises(SourceError, match="next run resumes"):
            download(server.url("/a.bin"), dest, HttpConfig(retries=0, progress=False))
        part = tmp_path / "a.bin.part"
        assert part.exists() and not dest.exists()  # nothing a rerun would trust as complete
        kept = part.stat().st_size
        got = download(server.url("/a.bin"), dest, FAST)
        assert got.resumed_from == kept > 0 and dest.read_bytes() == DATA

        # the next partial belongs to an object that then changes upstream: If-Range makes
        # the server send the new whole object, never a splice of old and new bytes
        dest.unlink()
        server.faults.drop_after["/a.bin"] = 500_000
        with pytest.raises(SourceError):
            download(server.url("/a.bin"), dest, HttpConfig(retries=0, progress=False))
        new = os.urandom(2**20)
        server.files["/a.bin"] = new
        got = download(server.url("/a.bin"), dest, FAST)
    assert dest.read_bytes() == new and got.resumed_from == 0


def test_server_errors_are_retried_then_reported(tmp_path):
    with FileServer({"/a.bin": DATA}) as server:
        server.faults.errors["/a.bin"] = [503, 502]
        download(server.url("/a.bin"), tmp_path / "a.bin", FAST)
        assert [p for _, p, _ in server.log].count("/a.bin") == 3
        server.faults.errors["/b.bin"] = [503] * 10
        server.files["/b.bin"] = b"x"
        with pytest.raises(SourceError, match="after 4 attempts"):
            download(server.url("/b.bin"), tmp_path / "b.bin", FAST)
    assert not (tmp_path / "b.bin").exists()


def test_client_errors_fail_at_once_with_advice(tmp_path):
    with FileServer({}) as server:
        with pytest.raises(SourceError, match=r"404.*moved"):
            download(server.url("/gone.zip"), tmp_path / "gone.zip", FAST)
        server.faults.errors["/secret.zip"] = [403]
        with pytest.raises(SourceError, match=r"403.*access denied"):
            download(server.url("/secret.zip"), tmp_path / "secret.zip", FAST)
        assert len(server.log) == 2  # no retries


def test_unreachable_server_fails_within_seconds(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    start = time.monotonic()
    with pytest.raises(SourceError, match="failed after"):
        download(f"http://127.0.0.1:{port}/a.zip", tmp_path / "a.zip", FAST)
    assert time.monotonic() - start < 5
    assert not (tmp_path / "a.zip").exists()
