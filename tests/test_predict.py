import json

import numpy as np
import pytest
from PIL import Image

from pipeline.faces import detect_faces
from pipeline.families import save_model
from pipeline.images import load_rgb
from pipeline.train import TrainConfig, train
from stages.cli import main


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
