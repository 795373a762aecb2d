"""The layout readers: the three box formats agree on every box, and the label-in-the-name
layouts give labels, wear and split groups as their sources mean them."""

import json
from collections import Counter

import numpy as np
import pytest

from pipeline.errors import SourceError
from pipeline.ingest import IngestConfig, ingest_source
from pipeline.sources import load_catalog, parse_source
from tests.conftest import ROOT, write_image

CATALOG = load_catalog(ROOT / "datasets" / "sources.yaml")
WOBOT_LABELS = {"face_with_mask": "mask", "face_no_mask": "no_mask"}

# (raw label, [xmin, ymin, xmax, ymax]) on a 200x160 photo, and what ingest must make of each
BOXES = [
    ("face_with_mask", [10, 10, 60, 70], None),
    ("face_no_mask", [150, 100, 201, 161], None),  # one pixel past the edge: clamped
    ("face_no_mask", [150, 100, 200, 160], "duplicate_box"),  # the box above, once clamped
    ("face_no_mask", [-5, 90, 40, 150], None),  # starts left of the image: clamped
    ("face_with_mask", ["nan", 1, 50, 50], "bad_box"),
    ("face_with_mask", [1, 1, "inf", 50], "bad_box"),
    ("face_with_mask", ["abc", 1, 50, 50], "bad_box"),
    ("face_with_mask", [30, 30, 30, 60], "degenerate_box"),
    ("face_with_mask", [60, 10, 20, 50], "degenerate_box"),
    ("face_with_mask", [300, 300, 350, 350], "box_outside_image"),
    ("face_with_mask", [5, 100, 12, 110], "tiny_box"),
    ("face_with_mask", [10, 10, 60, 70], "duplicate_box"),
    ("hat", [0, 0, 40, 20], "not_a_face"),
    ("face_other_covering", [80, 20, 130, 80], "unknown_label"),
]


def _number(v):
    return float(v) if isinstance(v, str) and v != "abc" else v


def write_voc(root, photo, boxes, size=(200, 160)):
    objects = "".join(
        f"<object><name>{raw}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for raw, b in boxes
    )
    xml = (
        f"<annotation><filename>{photo}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height><depth>3</depth></size>{objects}</annotation>"
    )
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"{photo.rsplit('.', 1)[0]}.xml").write_text(xml)


def write_json(root, photo, boxes, size=None):
    record = {
        "FileName": photo,
        "NumOfAnno": len(boxes),
        "Annotations": [{"classname": raw, "BoundingBox": [_number(v) for v in b]} for raw, b in boxes],
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"{photo}.json").write_text(json.dumps(record))


def write_csv_rows(root, photo, boxes, size=None):
    """Wobot's train.csv: headed name,x1,x2,y1,y2,classname but holding x1,y1,x2,y2."""
    table = root / "train.csv"
    if not table.exists():
        table.write_text("name,x1,x2,y1,y2,classname\n")
    with table.open("a") as f:
        for raw, b in boxes:
            f.write(f"{photo},{b[0]},{b[1]},{b[2]},{b[3]},{raw}\n")


LAYOUTS = {
    "voc": (write_voc, {}),
    "box_json": (write_json, {}),
    "box_csv": (
        write_csv_rows,
        {"annotations": "train.csv", "columns": ["name", "x1", "x2", "y1", "y2", "classname"]},
    ),
}


def box_source(layout):
    return parse_source(
        "boxes",
        {
            "title": "t",
            "licence": "l",
            "citation": "c",
            "fetch": {},
            "label_map": WOBOT_LABELS,
            "not_faces": ["hat"],
            "parts": [{"path": ".", "layout": layout, "faces": "boxes", **LAYOUTS[layout][1]}],
        },
    )


@pytest.fixture
def photo(rng):
    return rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_box_is_a_crop_or_a_rejection_with_the_same_reason_in_every_format(layout, photo, tmp_path):
    root = tmp_path / "src"
    write, _ = LAYOUTS[layout]
    write_image(root / "images" / "a.png", photo)
    write(root, "a.png", [(raw, b) for raw, b, _ in BOXES])
    write(root, "gone.png", [("face_no_mask", [10, 10, 60, 60])])  # annotated, never shipped
    write_image(root / "images" / "nobody.png", photo)  # shipped, never annotated
    # min_face set, as a user pre-cutting tiny boxes would: the 7 px box is then tiny_box in every format
    config = IngestConfig(workers=1, min_face=20)
    kept, rejected = ingest_source(box_source(layout), root, config, tmp_path / "f")

    expected = Counter(reason for _, _, reason in BOXES if reason)
    expected.update(["missing_image", "no_annotation"])
    assert Counter(rejected["reason"]) == expected
    assert len(kept) == sum(reason is None for _, _, reason in BOXES)
    # clamped to the image, then grown by the 10% margin and clamped again
    assert sorted(map(tuple, kept["box"])) == [(0, 84, 44, 156), (5, 4, 65, 76), (145, 94, 200, 160)]
    assert (kept["group"] == kept["group"].iloc[0]).all()
    assert set(kept["label"]) == {"mask", "no_mask"}
    assert list(kept.loc[kept["label"] == "mask", "label_raw"]) == ["face_with_mask"]
    details = dict(zip(rejected["reason"], rejected["detail"], strict=False))
    assert "face_other_covering" in details["unknown_label"]
    assert "hat" in details["not_a_face"]
    assert "gone.png" in details["missing_image"]


def test_voc_size_mismatch_and_hostile_xml_are_refused(photo, tmp_path):
    root = tmp_path / "src"
    write_image(root / "images" / "a.png", photo)
    write_voc(root, "a.png", [("face_no_mask", [10, 10, 60, 70])], size=(400, 320))
    write_image(root / "images" / "b.png", photo)
    write_voc(root, "b.png", [("face_no_mask", [10, 10, 60, 70])])
    secret = tmp_path / "secret.txt"
    secret.write_text("face_with_mask")
    (root / "annotations" / "xxe.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY s SYSTEM "file://{secret}">]>'
        "<annotation><filename>b.png</filename><object><name>&s;</name></object></annotation>"
    )
    (root / "annotations" / "lol.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "lol"><!ENTITY y "&x;&x;&x;&x;&x;&x;">]>'
        "<annotation><filename>&y;</filename></annotation>"
    )
    (root / "annotations" / "broken.xml").write_text("<annotation><filename>b.png</filename>")
    kept, rejected = ingest_source(box_source("voc"), root, IngestConfig(workers=1), tmp_path / "f")
    assert list(kept["origin"]) == ["images/b.png"]
    reasons = dict(zip(rejected["origin"], rejected["reason"], strict=True))
    assert reasons == {
        "images/a.png": "size_mismatch",
        "annotations/xxe.xml": "bad_annotation",
        "annotations/lol.xml": "bad_annotation",
        "annotations/broken.xml": "bad_annotation",
    }
    detail = rejected.set_index("origin")["detail"]
    assert "Entities" in detail["annotations/xxe.xml"] and "400x320" in detail["images/a.png"]


def test_json_and_csv_records_that_are_not_boxes_are_refused(photo, tmp_path):
    root = tmp_path / "src"
    write_image(root / "images" / "a.png", photo)
    write_json(root, "a.png", [("face_no_mask", [10, 10, 60, 70])])
    (root / "annotations" / "junk.json").write_text('{"FileName": "a.png", "Annotations": [{"box": 1}]}')
    (root / "annotations" / "cut.json").write_text('{"FileName": "a.png", "Annot')
    (root / "annotations" / "escape.json").write_text(
        json.dumps({"FileName": "../../etc/passwd", "Annotations": []})
    )
    kept, rejected = ingest_source(box_source("box_json"), root, IngestConfig(workers=1), tmp_path / "f")
    assert len(kept) == 1
    assert Counter(rejected["reason"]) == {"bad_annotation": 3}
    assert rejected["detail"].str.contains("leaves the image folder").sum() == 1

    (root / "train.csv").write_text("file,xmin\na.png,1\n")
    kept, rejected = ingest_source(box_source("box_csv"), root, IngestConfig(workers=1), tmp_path / "g")
    assert kept.empty
    reasons = dict(zip(rejected["reason"], rejected["detail"], strict=True))
    assert "not in ['file', 'xmin']" in reasons["bad_annotation"]
    assert "no_annotation" in reasons  # the image the table failed to describe is still accounted for


def mfn_tree(root, face, names):
    for name in names:
        folder = root / ("CMFD" if name.endswith("_Mask.jpg") else "IMFD") / name[:5]
        write_image(folder / name, face, quality=90)


def test_maskedface_net_suffixes_name_what_the_mask_covers(tmp_path, rng):
    face = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    names = [
        "00001_Mask.jpg",
        "00001_Mask_Mouth_Chin.jpg",
        "00002_Mask_Nose_Mouth.jpg",
        "00003_Mask_Chin.jpg",
    ]
    mfn_tree(tmp_path / "mfn", face, [*names, "00004_Mask_Ear.jpg", "00005.jpg"])
    kept, rejected = ingest_source(
        CATALOG["maskedface_net"], tmp_path / "mfn", IngestConfig(workers=1), tmp_path / "f"
    )
    by_name = kept.set_index(kept["origin"].str.rsplit("/", n=1).str[-1])
    assert by_name.loc[names, "label"].tolist() == [
        "mask",
        "incorrect_mask",
        "incorrect_mask",
        "incorrect_mask",
    ]
    assert by_name.loc[names, "wear"].tolist() == [
        "correct",
        "nose_exposed",
        "chin_exposed",
        "nose_mouth_exposed",
    ]
    assert kept["synthetic"].all()
    # a correct and an incorrect render of photo 00001 are one group; photo 00002 another
    assert by_name.loc["00001_Mask.jpg", "group"] == by_name.loc["00001_Mask_Mouth_Chin.jpg", "group"]
    assert by_name.loc["00001_Mask.jpg", "group"] != by_name.loc["00002_Mask_Nose_Mouth.jpg", "group"]
    reasons = dict(zip(rejected["origin"], rejected["reason"], strict=True))
    assert reasons == {"IMFD/00004/00004_Mask_Ear.jpg": "unknown_label", "IMFD/00005/00005.jpg": "no_label"}

    # FFHQ's photo 00001 shares that group: MaskedFace-Net drew its masks on it
    write_image(tmp_path / "ffhq" / "thumbnails128x128" / "00000" / "00001.png", face)
    ffhq, _ = ingest_source(CATALOG["ffhq"], tmp_path / "ffhq", IngestConfig(workers=1), tmp_path / "f")
    assert ffhq["group"].item() == by_name.loc["00001_Mask.jpg", "group"]
    assert not ffhq["synthetic"].any() and ffhq["wear"].isna().all()


def test_person_folders_group_a_persons_masked_and_unmasked_faces(tmp_path, rng):
    face = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    rmfd = CATALOG["rmfd"]
    afdb = "rmfrd/self-built-masked-face-recognition-dataset"
    for tree in ("AFDB_masked_face_dataset", "AFDB_face_dataset"):
        for person in ("alice", "bob"):
            write_image(tmp_path / "raw" / afdb / tree / person / "1.jpg", face)
    write_image(tmp_path / "raw" / afdb / "AFDB_face_dataset" / "loose.jpg", face)
    kept, rejected = ingest_source(rmfd, tmp_path / "raw", IngestConfig(workers=1), tmp_path / "f")
    assert len(rejected) == 0 and len(kept) == 5
    person = kept["origin"].str.split("/").str[3]
    groups = kept.groupby(person)["group"].nunique()
    assert groups[["alice", "bob"]].eq(1).all()
    assert kept.groupby(person)["label"].nunique()[["alice", "bob"]].eq(2).all()
    assert kept["group"].nunique() == 3  # alice, bob, and the loose file on its own


def test_a_source_with_none_of_its_parts_on_disk_is_an_error(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(SourceError, match="none of its parts"):
        ingest_source(CATALOG["rmfd"], tmp_path / "raw", IngestConfig(workers=1), tmp_path)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"path": ".", "layout": "voc", "faces": "crops"}, "faces: boxes"),
        ({"path": ".", "layout": "box_csv", "faces": "boxes", "columns": ["a"]}, "columns"),
        ({"path": ".", "layout": "voc", "faces": "boxes", "group": "person"}, "group"),
        ({"path": ".", "layout": "voc", "faces": "boxes", "imgs": "x"}, r"bad.parts\[0\]` has unknown key"),
        ({"path": ".", "layout": "vocc", "faces": "boxes"}, r"`bad.parts\[0\].layout` must be one of"),
    ],
)
def test_catalog_parts_are_validated(part, message):
    with pytest.raises(SourceError, match=message):
        parse_source(
            "bad",
            {
                **{k: "x" for k in ("title", "licence", "citation")},
                "fetch": {},
                "label_map": {},
                "parts": [part],
            },
        )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"pattern": "(?P<age>\\d+"}, "not a regular expression"),
        ({"pattern": "^(?P<height>\\d+)_"}, "groups among"),
        ({"pattern": "^(?P<age>\\d+)_", "values": {"race": {"0": "white"}}}, "values may only name"),
        ({"pattern": "^(?P<age>\\d+)_", "table": ["labels.csv"]}, "either pattern"),
        ({"table": ["labels.csv"], "columns": {"race": "race"}}, "columns must map file"),
        ({"table": ["labels.csv"], "columns": {"file": "f", "height": "h"}}, "columns must map file"),
    ],
)
def test_a_bad_attributes_entry_names_the_source_and_key(attributes, message):
    entry = {
        "title": "t",
        "licence": "l",
        "citation": "c",
        "fetch": {"kind": "local"},
        "label_map": {"unmasked": "no_mask"},
        "parts": [{"path": ".", "layout": "single_class", "label": "unmasked", "faces": "crops"}],
        "attributes": attributes,
    }
    with pytest.raises(SourceError, match=f"faces.attributes.*{message}"):
        parse_source("faces", entry)


def test_attributes_read_from_a_file_name_with_codes_named_and_unknown_codes_left_out():
    utk = load_catalog(ROOT / "datasets" / "sources.yaml")["utkface"].attributes
    assert utk.of("UTKFace/26_1_3_20170119183912345.jpg.chip.jpg") == {
        "age": 26,
        "gender": "female",
        "race": "indian",
    }
    assert utk.of("UTKFace/9_0_20170110215648859.jpg.chip.jpg") == {}  # no race field: not guessed
