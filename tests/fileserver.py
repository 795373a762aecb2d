"""A real HTTP file server on 127.0.0.1 for download tests, with faults on demand.

It serves bytes from a dict, honours Range and If-Range with strong ETags (as a CDN or
GitHub would), and can drop the connection after N bytes, answer 5xx a few times, or
pretend a file changed upstream. Every request is logged for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KAGGLE_USER, KAGGLE_KEY = "tester", "s3cr3t-kaggle-key"  # the only credentials FakeKaggle accepts


@dataclass
class Faults:
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before a drop (once)
    errors: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first
    stall_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, then silence (once)


class FileServer:
    def __init__(self, files: dict[str, bytes], port: int = 0) -> None:
        self.files = dict(files)
        self.faults = Faults()
        self.log: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.log.append(("GET", self.path, dict(self.headers)))
                server.handle(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append(("POST", self.path, dict(self.headers) | {"body": body.decode()}))
                server.handle_post(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.closing = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'

    def handle_post(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        request.send_response(405)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?")[0]
        statuses = self.faults.errors.get(path)
        if statuses:
            status = statuses.pop(0)
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if path not in self.files:
            request.send_response(404)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        data, etag = self.files[path], self.etag(path)
        start = 0
        wanted = request.headers.get("Range")
        if wanted and request.headers.get("If-Range") in (None, etag):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                request.send_response(416)
                request.send_header("Content-Range", f"bytes */{len(data)}")
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
            request.send_response(206)
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            request.send_response(200)
        body = data[start:]
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "bytes")
        request.send_header("ETag", etag)
        request.send_header("Last-Modified", "Mon, 02 Mar 2020 10:00:00 GMT")
        request.send_header("Content-Type", "application/octet-stream")
        request.end_headers()
        drop = self.faults.drop_after.pop(path, None)
        if drop is not None:
            request.wfile.write(body[:drop])
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(2)  # the peer sees the connection reset mid-body
            return
        stall = self.faults.stall_after.pop(path, None)
        if stall is not None:  # a client that is killed now leaves exactly `stall` bytes behind
            request.wfile.write(body[:stall])
            request.wfile.flush()
            self.closing.wait(60)
            request.close_connection = True
            return
        request.wfile.write(body)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeKaggle(FileServer):
    """Kaggle's API as its client speaks it: POST DownloadDataset, 302 to the file."""

    def handle_post(self, request, body: bytes) -> None:
        slug = json.loads(body)
        wanted = "Basic " + base64.b64encode(f"{KAGGLE_USER}:{KAGGLE_KEY}".encode()).decode()
        if request.headers.get("Authorization") != wanted:
            status, location = 401, None
        elif (slug.get("ownerSlug"), slug.get("datasetSlug")) != ("owner", "masks"):
            status, location = 404, None
        else:
            status, location = 302, "/files/masks.zip"
        request.send_response(status)
        if location:
            request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()


def can_bind(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
