"""Every stage handles a manifest of 0 rows: a source whose files are all rejected must give
empty outputs with the schema and one line saying where the faces went, not a traceback."""

import pyarrow.parquet as pq
import yaml

from pipeline.manifest import REJECTED_SCHEMA, SCHEMA
from tests.conftest import write_image
from tests.project import STAGES, copy_project, sh


def test_every_data_stage_runs_on_zero_rows_and_train_says_why(tmp_path):
    data = tmp_path / "data" / "with_mask"
    data.mkdir(parents=True)
    (data / "notes.jpg").write_text("a text file saved as .jpg")
    repo = copy_project(
        tmp_path / "repo",
        sources=["local"],
        download={"local": {"path": str(tmp_path / "data")}},
        synthesize={"sources": ["local"]},
    )
    sh(repo, "python", "-m", "stages.download", "local")
    ingest = sh(repo, "python", "-m", "stages.ingest")
    assert "no face came out of 1 rejected: 1 not_an_image (e.g. with_mask/notes.jpg: " in ingest.stderr
    for stage in STAGES[1:]:
        done = sh(repo, "python", "-m", f"stages.{stage}")
        before = STAGES[STAGES.index(stage) - 1]
        assert f"0 faces reached {stage}: see reports/{before}.json" in done.stderr
        assert "Traceback" not in done.stderr
        table = pq.read_table(repo / "datasets" / stage / "manifest.parquet")
        assert table.num_rows == 0 and table.schema.equals(SCHEMA, check_metadata=False)
        rejected = pq.read_table(repo / "datasets" / stage / "rejected.parquet")
        assert rejected.schema.equals(REJECTED_SCHEMA, check_metadata=False)
    train = sh(repo, "python", "-m", "stages.train", "simple_cnn", check=False)
    assert train.returncode == 2 and "Traceback" not in train.stderr
    assert train.stderr.startswith("error: 0 faces reached train") and "reports/<stage>.json" in train.stderr


def test_annotations_naming_jpg_for_png_files_say_so_in_one_line(tmp_path, rng):
    from tests.test_layouts import write_voc

    root = tmp_path / "voc"
    for name in ("a", "b"):
        write_image(root / "images" / f"{name}.png", rng.integers(0, 255, (160, 200, 3), dtype="uint8"))
        write_voc(root, f"{name}.jpg", [("with_mask", [10, 10, 90, 100])])
    repo = copy_project(tmp_path / "repo", sources=["myvoc"], download={"myvoc": {"path": str(root)}})
    catalog = yaml.safe_load((repo / "datasets/sources.yaml").read_text())
    catalog["myvoc"] = {
        "title": "boxes named .jpg, files .png",
        "fetch": {"kind": "local"},
        "licence": "ours",
        "citation": "ours",
        "label_map": {"with_mask": "mask"},
        "parts": [{"path": ".", "layout": "voc", "faces": "boxes"}],
    }
    (repo / "datasets/sources.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    sh(repo, "python", "-m", "stages.download", "myvoc")
    ingest = sh(repo, "python", "-m", "stages.ingest")
    line = next(x for x in ingest.stderr.splitlines() if "no face came out" in x)
    assert "2 missing_image (e.g. images/a.jpg: a.jpg named by" in line and "2 no_annotation" in line
    assert "a.png is there: the annotation's extension differs" in line
