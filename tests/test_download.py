"""download@<source> end to end: catalog kinds, verification and pins, quarantine, the local
source, Google Drive through gdown and Kaggle through its official client, all against real
servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from pipeline.download import Places, fetch_source, file_count
from pipeline.errors import SourceError
from pipeline.fetch.http import HttpConfig
from pipeline.ingest import IngestConfig, ingest_source
from pipeline.sources import data_root, parse_source
from tests.conftest import ROOT
from tests.fileserver import FakeKaggle, FileServer, can_bind

FAST = HttpConfig(retries=1, backoff=0.01, progress=False)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def source(kind: str, **fetch) -> object:
    return parse_source(
        "src",
        {
            "title": "test source",
            "licence": "CC0",
            "citation": "nobody",
            "fetch": {"kind": kind, **fetch},
            "label_map": {"with_mask": "mask", "without_mask": "no_mask"},
            "parts": [{"path": ".", "layout": "folder_per_class", "faces": "crops"}],
        },
    )


ARCHIVE = zip_bytes({"data/with_mask/a.png": b"A" * 1000, "data/without_mask/b.png": b"B" * 1000})


@pytest.fixture
def places(tmp_path) -> Places:
    return Places(tmp_path / "downloads" / "src", tmp_path / "sources.lock")


def target(tmp_path: Path, name: str = "raw") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def test_http_source_is_fetched_extracted_and_pinned(tmp_path, places):
    with FileServer({"/d.zip": ARCHIVE}) as server:
        src = source("http", files=[{"name": "d.zip", "url": server.url("/d.zip")}])
        record = fetch_source(src, {}, target(tmp_path), places, FAST)
    assert (tmp_path / "raw" / "data" / "with_mask" / "a.png").read_bytes() == b"A" * 1000
    assert record["files"][0]["checked"] == "pinned now" and record["files"][0]["extracted_files"] == 2
    pin = yaml.safe_load(places.lock.read_text())["src"]["d.zip"]
    assert pin["sha256"] == hashlib.sha256(ARCHIVE).hexdigest() and pin["size"] == len(ARCHIVE)
    assert pin["etag"]

    # rerun with the server gone: the verified cache is enough, no network needed
    record = fetch_source(src, {}, target(tmp_path, "raw2"), places, FAST)
    assert record["files"][0]["checked"] == "lock pin"


def test_a_corrupt_cache_is_quarantined_and_fetched_again(tmp_path, places):
    with FileServer({"/d.zip": ARCHIVE}) as server:
        src = source("http", files=[{"name": "d.zip", "url": server.url("/d.zip")}])
        fetch_source(src, {}, target(tmp_path), places, FAST)
        cached = places.downloads / "d.zip"
        cached.write_bytes(ARCHIVE[:-10] + b"corruption")
        record = fetch_source(src, {}, target(tmp_path, "raw2"), places, FAST)
        assert record["files"][0]["checked"] == "lock pin"
        assert cached.read_bytes() == ARCHIVE
        assert len(list((places.downloads / "quarantine").iterdir())) == 1

        # upstream now serves different bytes under the same name: refused, never used
        server.files["/d.zip"] = zip_bytes({"data/with_mask/evil.png": b"E"})
        cached.unlink()
        with pytest.raises(SourceError, match=r"pinned in .*sources.lock") as err:
            fetch_source(src, {}, target(tmp_path, "raw3"), places, FAST)
    assert "delete the src/d.zip entry" in str(err.value)
    assert not cached.exists() and len(list((places.downloads / "quarantine").iterdir())) == 2
    assert not any((tmp_path / "raw3").iterdir())


def test_a_published_checksum_is_enforced(tmp_path, places):
    with FileServer({"/d.zip": ARCHIVE}) as server:
        good = source("http", files=[{"name": "d.zip", "url": server.url("/d.zip"), "sha256": "0" * 64}])
        with pytest.raises(SourceError, match="the source publishes 0000"):
            fetch_source(good, {}, target(tmp_path), places, FAST)
        assert not places.lock.exists()  # a file that failed is never pinned
        right = hashlib.sha256(ARCHIVE).hexdigest()
        ok = source("http", files=[{"name": "d.zip", "url": server.url("/d.zip"), "sha256": right}])
        record = fetch_source(ok, {}, target(tmp_path, "raw2"), places, FAST)
    assert record["files"][0]["checked"] == "published sha256"


def test_manual_source_says_where_to_put_the_file(tmp_path, places):
    src = source("manual", homepage="https://example.org/data", files=[{"name": "CMFD.zip"}])
    with pytest.raises(SourceError, match=re.escape("https://example.org/data")) as err:
        fetch_source(src, {}, target(tmp_path), places, FAST)
    assert str(places.downloads / "CMFD.zip") in str(err.value)
    places.downloads.mkdir(parents=True)
    (places.downloads / "CMFD.zip").write_bytes(ARCHIVE)
    record = fetch_source(src, {}, target(tmp_path, "raw2"), places, FAST)
    assert record["files"][0]["extracted_files"] == 2


def test_unknown_options_and_kinds_are_refused(tmp_path, places):
    with pytest.raises(SourceError, match="unknown option"):
        fetch_source(source("http", files=[]), {"limt": 3}, target(tmp_path), places, FAST)
    with pytest.raises(SourceError, match="kind must be one of"):
        fetch_source(source("ftp"), {}, target(tmp_path, "r2"), places, FAST)


def test_local_source_is_read_in_place(tmp_path, places, utk_faces):
    mine = tmp_path / "my data"
    for i, face in enumerate(utk_faces[:4]):
        folder = mine / ("with_mask" if i % 2 else "without_mask")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / face.name).write_bytes(face.read_bytes())
    (mine / "loop").symlink_to(mine)  # a link loop must not hang or be walked
    (mine / "with_mask" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    raw = target(tmp_path)
    record = fetch_source(source("local"), {"path": str(mine)}, raw, places, FAST)
    (raw / "SOURCE.json").write_text(json.dumps(record))
    assert file_count(record) == 4 and record["links_not_followed"] == ["loop", "with_mask/gone.jpg"]
    assert data_root(raw) == mine.resolve()
    assert len((raw / "INVENTORY.tsv").read_text().splitlines()) == 5
    kept, rejected = ingest_source(
        source("local"), data_root(raw), IngestConfig(workers=1), tmp_path / "faces"
    )
    assert len(kept) == 4 and rejected[["origin", "reason"]].values.tolist() == [
        ["loop", "symlinked_folder"],
        ["with_mask/gone.jpg", "symlinked_file"],  # a broken link that leads out of the folder
    ]
    assert sorted(kept["label"]) == ["mask", "mask", "no_mask", "no_mask"]
    with pytest.raises(SourceError, match="exactly `path:`"):
        fetch_source(source("local"), {}, target(tmp_path, "r2"), places, FAST)


def test_a_local_source_does_not_follow_a_linked_file_out_of_it(tmp_path, places, utk_faces):
    secret = tmp_path / "private" / "id_rsa.jpg"
    secret.parent.mkdir()
    secret.write_bytes(utk_faces[0].read_bytes())  # a real image: only the link's target is wrong
    mine = tmp_path / "mine"
    (mine / "with_mask").mkdir(parents=True)
    (mine / "with_mask" / "a.jpg").write_bytes(utk_faces[1].read_bytes())
    (mine / "with_mask" / "inside.jpg").symlink_to(mine / "with_mask" / "a.jpg")  # stays inside
    (mine / "with_mask" / "planted.jpg").symlink_to(secret)
    raw = target(tmp_path)
    record = fetch_source(source("local"), {"path": str(mine)}, raw, places, FAST)
    assert file_count(record) == 2 and record["links_not_followed"] == ["with_mask/planted.jpg"]
    kept, rejected = ingest_source(source("local"), mine, IngestConfig(workers=1), tmp_path / "faces")
    assert sorted(kept["origin"]) == ["with_mask/a.jpg", "with_mask/inside.jpg"]
    assert rejected["reason"].tolist() == ["symlinked_file"]
    assert str(secret) in rejected["detail"].iloc[0]


def test_file_names_with_tabs_and_newlines_round_trip_through_the_inventory(tmp_path, places, utk_faces):
    import csv

    mine = tmp_path / "mine" / "with_mask"
    mine.mkdir(parents=True)
    names = ["plain.jpg", "tab\there.jpg", "new\nline.jpg"]
    for name in names:
        (mine / name).write_bytes(utk_faces[0].read_bytes())
    raw = target(tmp_path)
    fetch_source(source("local"), {"path": str(mine.parent)}, raw, places, FAST)
    with (raw / "INVENTORY.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert sorted(r["path"] for r in rows) == sorted(f"with_mask/{n}" for n in names)
    assert all(int(r["size"]) == utk_faces[0].stat().st_size for r in rows)


@pytest.mark.parametrize("path", ["/", "/proc", "/etc/ssl", "~/.ssh", "{tmp}/.hidden/data"])
def test_a_local_source_refuses_system_and_hidden_folders(tmp_path, places, path):
    (tmp_path / ".hidden" / "data").mkdir(parents=True)
    with pytest.raises(SourceError, match=r"system folder|hidden folder"):
        fetch_source(source("local"), {"path": path.format(tmp=tmp_path)}, target(tmp_path), places, FAST)


def test_a_local_walk_stops_at_its_file_cap_with_a_clear_message(tmp_path):
    from pipeline.download import inventory

    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(b"x")
    assert len(inventory(tmp_path, limit=5)[0]) == 5
    with pytest.raises(SourceError, match="more than 3 files: a `local` source is one data set's folder"):
        inventory(tmp_path, limit=3)


def test_google_drive_files_and_an_index_of_files_through_gdown(tmp_path, places):
    images = {f"/img/{i}.png": os.urandom(2000 + i) for i in range(3)}
    with FileServer(images) as server:
        index = {
            str(i): {
                "thumbnail": {
                    "file_url": server.url(f"/img/{i}.png"),
                    "file_path": f"thumbnails128x128/00000/{i:05d}.png",
                    "file_size": len(images[f"/img/{i}.png"]),
                    "file_md5": hashlib.md5(images[f"/img/{i}.png"]).hexdigest(),
                }
            }
            for i in range(3)
        }
        server.files["/index.json"] = json.dumps(index).encode()
        server.files["/img/2.png"] = b"tampered"  # md5 in the index no longer matches
        src = source(
            "gdrive",
            files=[{"name": "index.json", "url": server.url("/index.json"), "extract": False}],
            index={"file": "index.json", "entry": "thumbnail"},
        )
        record = fetch_source(src, {"limit": 2}, target(tmp_path), places, FAST)
        assert record["indexed_files"] == 2
        got = sorted(p.name for p in (tmp_path / "raw" / "thumbnails128x128" / "00000").iterdir())
        assert got == ["00000.png", "00001.png"] and not (tmp_path / "raw" / "index.json").exists()
        with pytest.raises(SourceError, match="md5"):
            fetch_source(src, {"limit": 3}, target(tmp_path, "raw2"), places, FAST)


def project(tmp_path: Path) -> Path:
    """A minimal project folder for running the real stage script."""
    (tmp_path / "datasets").mkdir()
    entry = {
        "title": "k",
        "licence": "x",
        "citation": "x",
        "label_map": {"with_mask": "mask", "without_mask": "no_mask"},
        "parts": [{"path": "data", "layout": "folder_per_class", "faces": "crops"}],
    }
    catalog = {
        key: entry | {"fetch": {"kind": "kaggle", "dataset": slug}}
        for key, slug in {"k": "owner/masks", "missing": "owner/other"}.items()
    }
    (tmp_path / "datasets" / "sources.yaml").write_text(yaml.safe_dump(catalog))
    (tmp_path / "params.yaml").write_text("sources: [k]\n")
    return tmp_path


def run_download(folder: Path, key: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    return subprocess.run(
        [sys.executable, "-m", "stages.download", key],
        cwd=folder,
        env=clean | {"PYTHONPATH": str(ROOT), "HOME": str(folder / "home")} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kaggle_through_the_official_client(tmp_path):
    """The client's LOCALHOST environment talks to http://localhost (port 80): our fake API."""
    if not can_bind(80):
        pytest.skip("cannot listen on 127.0.0.1:80, where the Kaggle client's local endpoint is")
    folder = project(tmp_path)
    creds = {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "KAGGLE_USERNAME": "tester"}
    with FakeKaggle({"/files/masks.zip": ARCHIVE}, port=80) as server:
        ok = run_download(folder, "k", **creds, KAGGLE_KEY="s3cr3t-kaggle-key")
        missing = run_download(folder, "missing", **creds, KAGGLE_KEY="s3cr3t-kaggle-key")
        refused = run_download(folder, "missing", **creds, KAGGLE_KEY="wrong-key")
    assert ok.returncode == 0, ok.stderr
    assert (folder / "datasets/raw/k/data/with_mask/a.png").read_bytes() == b"A" * 1000
    record = json.loads((folder / "datasets/raw/k/SOURCE.json").read_text())
    assert record["files"][0]["name"] == "masks.zip" and record["files"][0]["checked"] == "pinned now"
    assert [m for m, p, _ in server.log if p.endswith("DownloadDataset")] == ["POST"] * 3
    assert missing.returncode == 2 and "no dataset 'owner/other'" in missing.stderr
    assert refused.returncode == 2 and "refused" in refused.stderr
    for result in (ok, missing, refused):
        assert "s3cr3t" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".lock", ".yaml", ".tsv"}:
            assert "s3cr3t" not in path.read_text(errors="replace"), path


def test_kaggle_without_credentials_fails_fast_in_the_stage(tmp_path):
    """Exit 2 with instructions in seconds, nothing half-written."""
    folder = project(tmp_path)
    start = time.monotonic()
    result = run_download(folder, "k")
    assert result.returncode == 2, result.stderr
    assert "Kaggle credentials are missing" in result.stderr and "KAGGLE_USERNAME" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - start < 15
    # only the (empty) write lock of pipeline/atomic.py: no staging, no partial source
    assert [p.name for p in (folder / "datasets" / "raw").iterdir()] == [".k.lock"]


def test_a_kaggle_zip_downloaded_by_hand_needs_no_credentials(tmp_path):
    folder = project(tmp_path)
    missing = run_download(folder, "k")
    assert "put it at datasets/downloads/k/masks.zip" in missing.stderr
    (folder / "datasets/downloads/k").mkdir(parents=True, exist_ok=True)
    (folder / "datasets/downloads/k/masks.zip").write_bytes(ARCHIVE)  # as a browser saved it
    done = run_download(folder, "k")  # no KAGGLE_* variables, no kaggle.json
    assert done.returncode == 0, done.stderr
    assert (folder / "datasets/raw/k/data/with_mask/a.png").read_bytes() == b"A" * 1000
    record = json.loads((folder / "datasets/raw/k/SOURCE.json").read_text())
    assert record["files"][0]["checked"] == "pinned now"  # and every later copy must match it


def test_maskset_sources_lists_the_catalog(monkeypatch, capsys):
    from stages.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["sources", "--json"]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    expected = {"demo", "rmfd", "ffhq", "kaggle_face_mask_detection", "kaggle_face_mask_12k"}
    assert expected | {"kaggle_face_mask_lite", "kaggle_covid_face_mask", "kaggle_wobot_face_mask"} <= set(
        rows
    )
    assert {"maskedface_net", "local"} <= set(rows) and rows["demo"]["enabled"]
    assert (
        rows["kaggle_face_mask_detection"]["kind"] == "kaggle"
        and "CC0" in rows["kaggle_face_mask_detection"]["licence"]
    )
    assert main(["sources"]) == 0 and "rmfd" in capsys.readouterr().out
