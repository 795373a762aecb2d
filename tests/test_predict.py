import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.faces import detect_faces
from pipeline.families import save_model
from pipeline.images import load_rgb
from pipeline.train import TrainConfig, train
from stages.cli import main
from tests.conftest import ROOT


@pytest.mark.realdata
def test_predict_boxes_each_face_and_reports_bad_files(separable, utk_faces, tmp_path, monkeypatch, capsys):
    model, meta = train(separable, TrainConfig(arch="model1", image_size=32, epochs=1), lambda m: None)
    save_model(model, meta, tmp_path / "models" / "toy")
    # two people side by side, of the sample faces dlib's HOG detector finds on their own
    found = [p for p in utk_faces if detect_faces(load_rgb(p))][:2]
    photo = np.full((300, 500, 3), 90, np.uint8)
    photo[50:250, 20:220] = load_rgb(found[0])
    photo[50:250, 280:480] = load_rgb(found[1])
    Image.fromarray(photo).save(tmp_path / "two.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"<html>not a photo</html>")
    monkeypatch.chdir(tmp_path)
    code = main(["predict", "two.jpg", "broken.jpg", "gone.jpg", "--model", "toy", "--out", "out", "--json"])
    assert code == 1  # two inputs could not be read: said, and not a success
    captured = capsys.readouterr()
    results = {r["image"]: r for r in json.loads(captured.out)}
    assert "gone.jpg: cannot read" in captured.err and "broken.jpg: cannot read" in captured.err
    assert results["two.jpg"]["detector"] == "hog"
    faces = results["two.jpg"]["faces"]
    assert len(faces) == 2
    centres = sorted((f["box"][0] + f["box"][2]) / 2 for f in faces)
    assert 60 < centres[0] < 180 and 320 < centres[1] < 440
    for face in faces:
        assert face["label"] in {"mask", "no_mask"} and sum(face["probabilities"].values()) == pytest.approx(
            1
        )
    drawn = load_rgb(tmp_path / "out" / "two.png")
    assert drawn.shape == photo.shape and not np.array_equal(drawn, photo)  # boxes drawn
    assert "not_an_image" in results["broken.jpg"]["error"] and "unreadable" in results["gone.jpg"]["error"]
    # --json alone prints, and writes no folder of annotated copies into the project
    assert main(["predict", "two.jpg", "--model", "toy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["output"] is None
    assert not (tmp_path / "predictions").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_auto_falls_back_to_the_cnn_detector_where_hog_finds_no_face(separable, utk_faces, tmp_path):
    from pipeline.predict import classify_faces

    model, meta = train(separable, TrainConfig(arch="model1", image_size=32, epochs=1), lambda m: None)
    missed = next(
        p for p in utk_faces if not detect_faces(load_rgb(p)) and detect_faces(load_rgb(p), method="cnn")
    )
    faces, used = classify_faces(load_rgb(missed), model, meta)
    assert used == "cnn" and len(faces) >= 1
    assert classify_faces(load_rgb(missed), model, meta, detector="hog") == ([], "hog")


def test_predict_without_a_trained_model_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "x.jpg", "--model", "nothing"]) == 2
    assert "dvc repro" in capsys.readouterr().err


@pytest.fixture
def toy_model(separable, tmp_path):
    model, meta = train(separable, TrainConfig(arch="model1", image_size=32, epochs=1), lambda m: None)
    save_model(model, meta, tmp_path / "models" / "toy")
    return "toy"


@pytest.mark.realdata
def test_predict_classifies_every_voc_box_and_scores_it_against_the_annotation(
    toy_model, voc_sample, tmp_path, monkeypatch, capsys
):
    import defusedxml.ElementTree as SafeET

    photos = sorted((voc_sample / "images").glob("*.png"))[:3]
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "sources.yaml", tmp_path / "datasets")  # --label-map reads it
    monkeypatch.chdir(tmp_path)
    args = ["predict", *map(str, photos), "--model", toy_model, "--boxes", str(voc_sample / "annotations")]
    assert main([*args, "--label-map", "kaggle_face_mask_detection", "--json"]) == 0
    results = {Path(r["image"]).name: r for r in json.loads(capsys.readouterr().out)}
    names = {"with_mask": "mask", "without_mask": "no_mask", "mask_weared_incorrect": "incorrect_mask"}
    for photo in photos:
        xml = SafeET.parse(voc_sample / "annotations" / f"{photo.stem}.xml").getroot()
        width, height = Image.open(photo).size
        annotated = [
            (
                o.findtext("name"),
                [int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")],
            )
            for o in xml.iter("object")
        ]
        result = results[photo.name]
        assert result["detector"] == "annotation" and result["skipped"] == []
        got = [(f["annotated"], f["box"], f["truth"]) for f in result["faces"]]
        clamped = [[max(0, b[0]), max(0, b[1]), min(width, b[2]), min(height, b[3])] for _, b in annotated]
        assert got == [(raw, box, names[raw]) for (raw, _), box in zip(annotated, clamped, strict=True)]
        assert all(f["correct"] == (f["truth"] == f["label"]) for f in result["faces"])
    total = sum(len(r["faces"]) for r in results.values())
    agree = sum(f["correct"] for r in results.values() for f in r["faces"])
    # without --label-map the Kaggle names are not ours: classified, but not scored, and said so
    assert main([*args, "--out", "drawn"]) == 0
    text = capsys.readouterr().out
    assert f"agreement with the annotation: 0 of 0 boxes; {total} with a label not in" in text
    assert "--label-map" in text and len(list((tmp_path / "drawn").glob("*.png"))) == 3
    assert main([*args, "--label-map", "kaggle_face_mask_detection", "--out", "drawn"]) == 0
    assert f"agreement with the annotation: {agree} of {total} boxes" in capsys.readouterr().out


@pytest.mark.realdata
def test_predict_on_a_box_table_skips_bad_boxes_with_reasons_and_names_unlisted_photos(
    toy_model, utk_faces, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    photo = Image.open(utk_faces[0]).convert("RGB")
    photo.save(tmp_path / "a.jpg")
    photo.save(tmp_path / "unlisted.jpg")
    (tmp_path / "boxes.csv").write_text(
        "file,x0,y0,x1,y1,class\n"
        "a.jpg,40,40,160,170,mask\n"
        "a.jpg,10,10,10,90,no_mask\n"  # no area
        "a.jpg,900,900,990,990,no_mask\n"  # outside the 200x200 photo
        "a.jpg,150,150,260,260,no_mask\n"  # past the edge: clamped, as ingest does
    )
    args = ["predict", "a.jpg", "unlisted.jpg", "--model", toy_model, "--boxes", "boxes.csv"]
    assert main([*args, "--columns", "file,x0,y0,x1,y1,class", "--json"]) == 1
    captured = capsys.readouterr()
    assert "unlisted.jpg: no annotation names this photo" in captured.err
    result = json.loads(captured.out)[0]
    assert [f["box"] for f in result["faces"]] == [[40, 40, 160, 170], [150, 150, 200, 200]]
    assert [f["truth"] for f in result["faces"]] == ["mask", "no_mask"]
    assert [(s["where"], s["reason"]) for s in result["skipped"]] == [
        ("boxes.csv#row3", "degenerate_box"),
        ("boxes.csv#row4", "box_outside_image"),
    ]
    # the default columns are the catalog's (name, xmin, ...): a table without them is refused
    assert main(args) == 2
    assert "not in ['file', 'x0', 'y0', 'x1', 'y1', 'class']" in capsys.readouterr().err
    (tmp_path / "boxes.txt").write_text("")
    assert main([*args[:-1], "boxes.txt"]) == 2
    assert "not a folder of VOC files, a .xml or a .csv" in capsys.readouterr().err
