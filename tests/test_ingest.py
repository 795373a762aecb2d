from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as SafeET
import numpy as np
import pytest

from pipeline.demo import build_demo
from pipeline.errors import SourceError
from pipeline.ingest import IngestConfig, crop_box, ingest_source
from pipeline.sources import load_catalog, parse_source
from tests.conftest import ROOT, write_image

KAGGLE = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
FOLDERS = parse_source(
    "folders",
    {
        "title": "t",
        "licence": "l",
        "citation": "c",
        "fetch": {},
        "label_map": {"with_mask": "mask", "without_mask": "no_mask"},
        "parts": [{"path": "data", "layout": "folder_per_class", "faces": "crops"}],
    },
)


@pytest.mark.realdata
@pytest.mark.slow
def test_every_voc_box_is_a_crop_or_a_rejection(voc_sample, tmp_path):
    kept, rejected = ingest_source(KAGGLE, voc_sample, IngestConfig(workers=2), tmp_path, tmp_path)
    raw = Counter()
    for xml in (voc_sample / "annotations").glob("*.xml"):
        raw.update(o.findtext("name") for o in SafeET.parse(xml).getroot().iter("object"))
    assert sum(raw.values()) == 661 == len(kept) + len(rejected)
    got = Counter(kept["label_raw"]) + Counter(
        rejected["label"].map(
            {"mask": "with_mask", "no_mask": "without_mask", "incorrect_mask": "mask_weared_incorrect"}
        )
    )
    assert got == raw
    assert set(rejected["reason"]) <= {"tiny_box"}
    assert rejected["detail"].str.contains("min_face").all()
    # every crop is a real file of the recorded size, inside its photo
    for row in kept.sample(20, random_state=0).itertuples():
        assert (tmp_path / row.path).is_file()
        x0, y0, x1, y1 = row.box
        assert (x1 - x0, y1 - y0) == (row.width, row.height)
    # all crops of one photo share one group; different photos do not
    assert kept.groupby("origin")["group"].nunique().eq(1).all()
    assert kept["group"].nunique() == kept["origin"].nunique()


@pytest.mark.realdata
def test_boxes_past_the_edge_are_clamped(voc_sample, tmp_path):
    kept, _ = ingest_source(KAGGLE, voc_sample, IngestConfig(workers=1, min_face=1), tmp_path, tmp_path)
    from PIL import Image

    for row in kept.itertuples():
        with Image.open(voc_sample / row.origin) as im:
            w, h = im.size
        assert 0 <= row.box[0] < row.box[2] <= w and 0 <= row.box[1] < row.box[3] <= h


def test_crop_box_grows_by_margin_and_clamps():
    assert crop_box((10, 10, 30, 50), 100, 100, 0.1) == (8, 6, 32, 54)
    assert crop_box((0, 0, 100, 100), 100, 100, 0.5) == (0, 0, 100, 100)


def test_bad_and_unlabelled_files_are_rejected_with_reasons(tmp_path, rng):
    face = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = tmp_path / "src" / "data"
    write_image(data / "WithMask" / "ok 1 é.png", face)
    write_image(data / "without_mask" / "ok2.jpg", face)
    (data / "without_mask" / "empty.jpg").write_bytes(b"")
    (data / "without_mask" / "notes.txt").write_text("hello")
    write_image(data / "sunglasses" / "odd.png", face)
    write_image(data / "loose.png", face)
    kept, rejected = ingest_source(FOLDERS, tmp_path / "src", IngestConfig(workers=1), tmp_path, tmp_path)
    assert sorted(kept["label"]) == ["mask", "no_mask"]
    reasons = dict(zip(rejected["origin"].map(lambda o: Path(o).name), rejected["reason"], strict=True))
    assert reasons == {
        "empty.jpg": "empty_file",
        "notes.txt": "not_an_image",
        "odd.png": "unknown_label",
        "loose.png": "no_label",
    }
    assert "sunglasses" in rejected.loc[rejected["reason"] == "unknown_label", "detail"].item()


def test_hostile_xml_is_refused_and_other_photos_survive(voc_sample, tmp_path):
    root = tmp_path / "voc"
    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    src = sorted((voc_sample / "annotations").glob("*.xml"))[0]
    (root / "annotations" / src.name).write_bytes(src.read_bytes())
    image = SafeET.parse(src).getroot().findtext("filename")
    (root / "images" / image).write_bytes((voc_sample / "images" / image).read_bytes())
    (root / "annotations" / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>'
        "<annotation><filename>&y;</filename></annotation>"
    )
    kept, rejected = ingest_source(KAGGLE, root, IngestConfig(workers=1, min_face=1), tmp_path, tmp_path)
    assert len(kept) > 0
    bomb = rejected[rejected["origin"].str.contains("bomb")]
    assert list(bomb["reason"]) == ["bad_annotation"]
    assert "Entities" in bomb["detail"].item() or "entit" in bomb["detail"].item().lower()


@pytest.mark.slow
def test_demo_source_ingests_faces_and_detects_photo_faces(tmp_path):
    build_demo(tmp_path / "raw", lfw_faces=5)
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    kept, rejected = ingest_source(
        catalog["demo"], tmp_path / "raw", IngestConfig(workers=1), tmp_path / "faces", tmp_path
    )
    assert len(rejected) == 0
    photos = kept[kept["origin"].str.startswith("photos/")]
    # one face each: the detector's low-scoring hit on the astronaut's badge is dropped
    assert sorted(photos["origin"]) == ["photos/no_mask/astronaut.png", "photos/no_mask/grace_hopper.jpg"]
    assert (kept["label"] == "no_mask").all() and len(kept) == 7


def test_single_class_parts_label_every_file_and_keep_person_folders(tmp_path, utk_faces):
    """RMFD-style trees: one folder per person under a masked and an unmasked root."""
    rmfd = parse_source(
        "rmfd",
        {
            "title": "t",
            "licence": "l",
            "citation": "c",
            "fetch": {},
            "label_map": {"masked": "mask", "unmasked": "no_mask"},
            "parts": [
                {"path": "masked", "layout": "single_class", "label": "masked", "faces": "crops"},
                {"path": "unmasked", "layout": "single_class", "label": "unmasked", "faces": "crops"},
                {"path": "absent", "layout": "single_class", "label": "unmasked", "faces": "crops"},
            ],
        },
    )
    for i, face in enumerate(utk_faces[:6]):
        folder = tmp_path / "raw" / ("masked" if i < 2 else "unmasked") / f"person {i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.jpg").write_bytes(face.read_bytes())
    kept, rejected = ingest_source(
        rmfd, tmp_path / "raw", IngestConfig(workers=1), tmp_path / "out", tmp_path
    )
    assert len(rejected) == 0 and Counter(kept["label"]) == {"mask": 2, "no_mask": 4}
    assert set(kept["label_raw"]) == {"masked", "unmasked"}
    assert {o.split("/")[1] for o in kept["origin"]} == {"person 0", "person 1"}
    with pytest.raises(SourceError, match="single_class"):
        parse_source(
            "bad",
            {
                **{k: "x" for k in ("title", "licence", "citation")},
                "fetch": {},
                "label_map": {},
                "parts": [{"path": ".", "layout": "single_class", "faces": "crops"}],
            },
        )
