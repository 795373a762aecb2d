"""Bad files through every stage: the corpus of tests/corpus.py beside real faces goes
ingest -> dedup -> filter -> landmarks -> synthesize -> split with the project's own params,
and face files are damaged between stages (truncated, deleted, overwritten with HTML), as a
disk error or a careless hand would. Every stage keeps going, every bad file ends as a
rejection with a precise reason, and every good file beside it is still processed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.config import parse
from pipeline.dedup import DedupConfig, dedup
from pipeline.errors import InvariantError
from pipeline.filters import FilterConfig, apply_filters
from pipeline.ingest import IngestConfig, ingest_source
from pipeline.landmarks import LandmarksConfig, add_landmarks
from pipeline.preprocess import load_tensor_cache
from pipeline.sources import load_catalog
from pipeline.split import SplitConfig, split
from pipeline.synthesize import SynthesizeConfig, synthesize
from stages.common import load_params, section
from tests.conftest import ROOT
from tests.corpus import build_corpus

pytestmark = pytest.mark.slow
PARAMS = load_params(ROOT / "params.yaml")
DECODER_REASONS = {"truncated": "truncate", "unreadable": "delete", "not_an_image": "html"}


def config(cls, stage: str, **changes):
    return dataclasses.replace(parse(cls, section(stage, PARAMS), stage), **changes)


def damage(paths: list[str]) -> dict[str, str]:
    """Break one file each way; {path: the reason the decoder must give}."""
    out = {}
    for path, (reason, how) in zip(paths, DECODER_REASONS.items(), strict=False):
        file = Path(path)
        if how == "truncate":
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 3])
        elif how == "delete":
            file.unlink()
        else:
            file.write_bytes(b"<!doctype html><title>502 Bad Gateway</title>")
        out[path] = reason
    return out


def check(stage: str, n_in: int, kept: pd.DataFrame, rejected: pd.DataFrame, broken: dict[str, str]) -> None:
    assert len(kept) + len(rejected) == n_in, f"{stage} lost rows"
    assert len(broken) == len(DECODER_REASONS)
    got = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert {p: got.get(p) for p in broken} == broken, stage
    assert not set(broken) & set(kept["path"]), stage


def test_bad_files_and_damage_between_stages_end_as_reasons_and_good_faces_go_on(tmp_path, utk_faces):
    faces = [np.asarray(Image.open(p).convert("RGB")) for p in utk_faces[:40]]
    raw = tmp_path / "raw"
    expected = build_corpus(raw / "without_mask", faces[0], good_faces=faces[1:])
    (raw / "with_mask").mkdir(exist_ok=True)
    for k, face in enumerate(faces[20:30]):
        Image.fromarray(face).save(raw / "with_mask" / f"masked {k}.png")
    source = load_catalog(ROOT / "datasets/sources.yaml")["local"]

    ingested, rejected = ingest_source(source, raw, config(IngestConfig, "ingest"), tmp_path / "faces")
    ends = {Path(o).name: r for o, r in zip(rejected["origin"], rejected["reason"], strict=True)}
    corpus = {Path(o).name for o in ingested["origin"]} | set(ends)
    assert corpus >= set(expected)
    assert {name: ends.get(name) for name in expected} == expected

    deduped, dropped = dedup(ingested, config(DedupConfig, "dedup"))
    assert len(deduped) + len(dropped) == len(ingested)
    broken = damage(list(deduped.sort_values("id")["path"].iloc[:3]))
    filtered, dropped_f = apply_filters(deduped, config(FilterConfig, "filter"))
    check("filter", len(deduped), filtered, dropped_f, broken)

    broken = damage(list(filtered.sort_values("id")["path"].iloc[:3]))
    marked, dropped_l = add_landmarks(filtered, config(LandmarksConfig, "landmarks"))
    check("landmarks", len(filtered), marked, dropped_l, broken)

    synth = config(SynthesizeConfig, "synthesize", sources=("local",), fraction=1.0)
    masked, dropped_s = synthesize(marked, synth, tmp_path / "synthetic")
    assert len(masked) > len(marked) and set(dropped_s["reason"]) <= {
        "no_landmarks",
        "qa_coverage",
        "qa_exposed",
    }

    final, dropped_p, report = split(masked, config(SplitConfig, "split"))
    assert dropped_p.empty and all(v == 0 for v in report["leakage"].values())
    # every good corpus file that no filter check turned away reached the split
    filtered_out = {Path(o).name for o in pd.concat([dropped, dropped_f])["origin"]}
    reached = {Path(o).name for o in final["origin"]}
    damaged = {
        Path(o).name for o in pd.concat([dropped_f, dropped_l]).query("reason in @DECODER_REASONS")["origin"]
    }
    for name, reason in expected.items():
        if reason is None and name not in damaged:
            assert name in reached or name in filtered_out, name


def test_training_names_a_face_damaged_after_split(tmp_path, separable):
    path = Path(separable["path"].iloc[3])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InvariantError, match=rf"{path.name} no longer decodes.*dvc repro --force"):
        load_tensor_cache(list(separable["path"]), 32, grayscale=False)
