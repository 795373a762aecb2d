"""Both backends of the one parallel map, the process pool and a real Dask LocalCluster,
give the same results in the same order, so a stage writes the same bytes on either."""

import hashlib
import math
from pathlib import Path

import pytest

from pipeline.errors import MasksetError
from pipeline.ingest import IngestConfig, ingest_source
from pipeline.landmarks import LandmarksConfig, add_landmarks
from pipeline.manifest import write_manifest, write_rejected
from pipeline.parallel import ParallelConfig, parallel_backend, parallel_map
from pipeline.sources import load_catalog
from tests.conftest import ROOT

DASK = ParallelConfig(backend="dask")


def test_dask_and_the_pool_yield_the_same_results_in_input_order():
    items = list(range(500))
    expected = [math.sqrt(i) for i in items]
    assert list(parallel_map(math.sqrt, items, workers=2, chunksize=7)) == expected
    with parallel_backend(DASK):
        assert list(parallel_map(math.sqrt, items, workers=2, chunksize=7)) == expected


def test_an_error_in_a_dask_worker_reaches_the_caller():
    with parallel_backend(DASK), pytest.raises(ValueError, match="math domain error"):
        list(parallel_map(math.sqrt, [4, 9, -1, 16] * 10, workers=2, chunksize=3))


def test_a_scheduler_that_does_not_answer_is_one_clear_error():
    nobody = ParallelConfig(backend="dask", address="tcp://127.0.0.1:9")
    with parallel_backend(nobody), pytest.raises(MasksetError, match=r"no Dask scheduler answered"):
        list(parallel_map(math.sqrt, list(range(100)), workers=2, chunksize=4))


def _digests(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.realdata
@pytest.mark.slow
def test_ingest_and_landmarks_write_identical_bytes_on_both_backends(voc_sample, tmp_path, monkeypatch):
    """The real VOC sample ingested (125 photos, 661 boxes: crops written by the workers) and
    the first 120 faces fitted with dlib, once on the process pool, once on a LocalCluster;
    each run in its own folder, with relative paths as the stages use."""
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
    outputs = {}
    for name, backend in (("pool", ParallelConfig()), ("dask", DASK)):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        with parallel_backend(backend):
            kept, rejected = ingest_source(source, voc_sample, IngestConfig(workers=2), Path("faces"))
            fitted, _ = add_landmarks(kept.head(120), LandmarksConfig(workers=2))
        write_manifest(kept, Path("ingest.parquet"))
        write_rejected(rejected, Path("rejected.parquet"))
        write_manifest(fitted, Path("landmarks.parquet"))
        outputs[name] = _digests(tmp_path / name)
    assert len(outputs["pool"]) > 500  # the crops and the three tables
    assert outputs["dask"] == outputs["pool"]
