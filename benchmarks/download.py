"""Download-stage throughput on this machine: HTTP from a 127.0.0.1 server (plain, and with a
dropped connection resumed), sha256 verification, and safe zip extraction of many small files.

    python benchmarks/download.py [--mb 200] [--files 5000]

Prints a Markdown table; paste it into benchmarks/README.md with the date.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.fetch.archives import extract
from pipeline.fetch.http import HttpConfig, download
from pipeline.fetch.pins import file_digests
from tests.fileserver import FileServer


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    blob = os.urandom(args.mb * 2**20)
    config = HttpConfig(retries=3, backoff=0.01, progress=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FileServer({"/blob": blob}) as server:
        tmp_path = Path(tmp)
        seconds = timed(lambda: download(server.url("/blob"), tmp_path / "a", config))
        rows.append((f"HTTP download, {args.mb} MB, 127.0.0.1", seconds, f"{args.mb / seconds:.0f} MB/s"))
        server.faults.drop_after["/blob"] = len(blob) // 2
        seconds = timed(lambda: download(server.url("/blob"), tmp_path / "b", config))
        rate = f"{args.mb / seconds:.0f} MB/s"
        rows.append(("same, connection dropped at 50% and resumed", seconds, rate))
        seconds = timed(lambda: file_digests(tmp_path / "a", ("sha256", "md5")))
        rows.append((f"sha256 + md5 verification, {args.mb} MB", seconds, f"{args.mb / seconds:.0f} MB/s"))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for i in range(args.files):
                zf.writestr(f"class_{i % 3}/{i:06d}.jpg", os.urandom(30_000))
        archive = tmp_path / "faces.zip"
        archive.write_bytes(buffer.getvalue())
        (tmp_path / "out").mkdir()
        seconds = timed(lambda: extract(archive, tmp_path / "out"))
        rate = f"{args.files / seconds:.0f} files/s"
        rows.append((f"safe zip extraction, {args.files} x 30 kB files", seconds, rate))
    print("| what | seconds | rate |\n|---|---|---|")
    for what, seconds, rate in rows:
        print(f"| {what} | {seconds:.2f} | {rate} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB (the {args.mb} MB payload is held in memory by the test server)")


if __name__ == "__main__":
    main()
