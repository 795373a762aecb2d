import pandas as pd
import pytest

from pipeline.errors import InvariantError
from pipeline.manifest import (
    LABELS,
    check_conservation,
    new_manifest,
    read_manifest,
    stable_id,
    validate,
    write_manifest,
)


def rows(n: int) -> list[dict]:
    return [
        {
            "id": f"id{i}",
            "source": "s",
            "origin": f"f{i}.png",
            "path": f"p{i}.png",
            "width": 10,
            "height": 10,
            "label": LABELS[i % 2],
            "group": f"g{i // 2}",
            "box": [0, 0, 10, 10],
            "synthetic": False,
        }
        for i in range(n)
    ]


def test_roundtrip_keeps_values_and_sorts_by_id(tmp_path):
    df = new_manifest(reversed(rows(5)))
    write_manifest(df, tmp_path / "m.parquet")
    back = read_manifest(tmp_path / "m.parquet")
    assert list(back["id"]) == sorted(df["id"])
    assert list(back.loc[0, "box"]) == [0, 0, 10, 10]
    assert back["label"].isin(LABELS).all()


def test_columns_read_only_those_in_their_order(tmp_path):
    write_manifest(new_manifest(rows(4)), tmp_path / "m.parquet")
    back = read_manifest(tmp_path / "m.parquet", ["path", "label", "repeats"])
    assert list(back.columns) == ["path", "label", "repeats"]
    assert list(back["label"]) == [LABELS[i % 2] for i in range(4)]
    assert back["repeats"].isna().all()  # in the schema, never filled here


def test_same_content_gives_identical_files(tmp_path):
    write_manifest(new_manifest(rows(6)), tmp_path / "a.parquet")
    write_manifest(new_manifest(list(reversed(rows(6)))), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_unknown_column_is_refused():
    with pytest.raises(ValueError, match="not in the schema"):
        new_manifest([{"id": "a", "lable": "mask"}])


@pytest.mark.parametrize("bad", ["0", "1", "with_mask", None])
def test_labels_outside_the_convention_are_refused(bad):
    df = new_manifest(rows(2))
    df.loc[0, "label"] = bad
    with pytest.raises(InvariantError, match="labels outside"):
        validate(df)


def test_duplicate_ids_are_refused():
    df = new_manifest(rows(2))
    df.loc[1, "id"] = "id0"
    with pytest.raises(InvariantError, match="duplicate ids"):
        validate(df)


def test_conservation_accepts_a_partition():
    check_conservation("s", ["a", "b", "c"], ["a", "x"], ["b", "c"], created=["x"])


@pytest.mark.parametrize(
    ("kept", "rejected", "message"),
    [
        (["a"], ["b"], "neither kept nor rejected"),
        (["a", "b"], ["b", "c"], "kept and rejected at once"),
        (["a", "b", "c", "z"], [], "from nowhere"),
        (["a", "a", "b", "c"], [], "twice"),
    ],
)
def test_conservation_catches_lost_and_invented_rows(kept, rejected, message):
    with pytest.raises(InvariantError, match=message):
        check_conservation("s", ["a", "b", "c"], kept, rejected)


def test_stable_id_depends_on_every_part_only():
    assert stable_id("a", 1, (0, 1)) == stable_id("a", 1, (0, 1))
    assert stable_id("a", 1) != stable_id("a", 2)
    assert stable_id("ab", "c") != stable_id("a", "bc")
    assert isinstance(pd.Series([stable_id("x")]).iloc[0], str)


def test_rejection_report_counts_per_source_and_names_examples():
    from pipeline.manifest import rejection_report

    kept = pd.DataFrame({"id": ["k1", "k2"], "source": ["a", "b"]})
    rejected = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(8)],
            "source": ["a"] * 7 + ["b"],
            "reason": ["blur"] * 7 + ["min_size"],
        }
    )
    report = rejection_report(kept, rejected, examples=3)
    assert report["by_source"] == {
        "a": {"kept": 1, "rejected_by_reason": {"blur": 7}},
        "b": {"kept": 1, "rejected_by_reason": {"min_size": 1}},
    }
    assert report["examples"] == {"blur": ["r0", "r1", "r2"], "min_size": ["r7"]}


def test_a_truncated_manifest_between_stages_is_one_line_naming_it_and_the_rebuild(tmp_path):
    import os
    import subprocess
    import sys

    from pipeline.errors import StageOutputError
    from tests.conftest import ROOT

    path = tmp_path / "datasets" / "ingest" / "manifest.parquet"
    write_manifest(new_manifest([{"id": "a", "source": "s", "label": "mask", "group": "g"}]), path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StageOutputError, match=r"ingest/manifest.parquet is damaged.*`dvc repro ingest`"):
        read_manifest(path)
    (tmp_path / "params.yaml").write_text("dedup: {workers: 1}\n")
    done = subprocess.run(
        [sys.executable, "-m", "stages.dedup"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: datasets/ingest/manifest.parquet is damaged")
    path.unlink()
    with pytest.raises(StageOutputError, match=r"is missing: rebuild it with `dvc repro ingest`"):
        read_manifest(path)


def test_per_label_survival_and_the_warning_when_a_stage_skews_the_labels():
    from pipeline.manifest import label_skew_warning, label_survival, new_rejected

    kept = new_manifest(
        [{"id": f"m{i}", "label": "mask"} for i in range(37)]
        + [{"id": f"n{i}", "label": "no_mask"} for i in range(18)]
    )
    lost = [{"id": f"lm{i}", "label": "mask", "reason": "min_size"} for i in range(63)]
    lost += [{"id": f"ln{i}", "label": "no_mask", "reason": "min_size"} for i in range(54)]
    lost += [{"id": "x", "label": None, "reason": "decode_error"}]
    survival = label_survival(kept, new_rejected(lost))
    assert survival["by_label"]["mask"] == {
        "kept": 37,
        "rejected": 63,
        "rejected_share": 0.63,
        "rejected_by_reason": {"min_size": 63},
    }
    assert survival["by_label"]["no_mask"]["rejected_share"] == 0.75
    assert survival["by_label"]["unknown"]["rejected"] == 1  # rejected before its label was read
    assert survival["label_skew"] == {"gap": 0.12, "most_rejected": "no_mask", "least_rejected": "mask"}
    warning = label_skew_warning("filter", survival)
    assert warning == (
        "filter: rejected 75% of no_mask rows but 63% of mask (12 points, more than 10); "
        "no_mask lost to min_size=54"
    )
    assert label_skew_warning("filter", survival, max_gap=0.2) is None
    # labels with too few rows to say anything (18 no_mask, 1 incorrect_mask) are left out
    few = label_survival(
        kept, new_rejected([*lost[:63], {"id": "z", "label": "incorrect_mask", "reason": "blur"}])
    )
    assert set(few["by_label"]) == {"mask", "no_mask", "incorrect_mask"} and few["label_skew"] is None


@pytest.mark.parametrize(("limit", "warns"), [(0.1, True), (0.9, False)])
def test_max_label_skew_decides_whether_a_stage_warns(tmp_path, monkeypatch, capsys, limit, warns):
    import json

    from pipeline.manifest import new_rejected
    from stages.common import accounting, write_counts

    monkeypatch.chdir(tmp_path)
    limit = accounting({"max_label_skew": limit}).max_label_skew
    kept = new_manifest(
        [{"id": f"m{i}", "label": "mask"} for i in range(37)] + [{"id": "n", "label": "no_mask"}]
    )
    lost = [{"id": f"l{i}", "label": "mask", "reason": "blur"} for i in range(3)]
    lost += [
        {"id": f"ln{i}", "label": "no_mask", "reason": "min_size"} for i in range(19)
    ]  # 95% against 7.5%
    write_counts("filter", 60, kept, new_rejected(lost), max_label_skew=limit)
    report = json.loads((tmp_path / "reports" / "filter.json").read_text())
    assert (report["label_skew_warning"] is not None) == warns
    assert ("warning: filter: rejected 95% of no_mask" in capsys.readouterr().err) == warns
