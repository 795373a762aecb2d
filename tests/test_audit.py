import numpy as np
import pandas as pd
import pytest

from pipeline.audit import AuditConfig, audit, render_html
from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, points_of
from pipeline.manifest import new_manifest
from pipeline.skin_tone import estimate, ita_bin


@pytest.mark.parametrize(
    ("ita", "name"),
    [(60, "very_light"), (45, "light"), (30, "intermediate"), (15, "tan"), (0, "brown"), (-45, "dark")],
)
def test_ita_bins(ita, name):
    assert ita_bin(ita) == name


@pytest.fixture
def utk(utk_faces):
    df = new_manifest(
        {
            "id": p.name,
            "source": "utk",
            "origin": p.name,
            "path": str(p),
            "label": "no_mask",
            "group": p.name,
            "synthetic": False,
            "race": p.name.split("_")[2],
            "split": "test",
        }
        for p in utk_faces
    )
    out, _ = add_landmarks(df, LandmarksConfig(workers=2))
    return out


@pytest.mark.realdata
@pytest.mark.slow
def test_ita_orders_annotated_groups(utk):
    """UTKFace race 0 (White) must come out lighter than race 1 (Black) on average."""
    ita = {}
    for _, row in utk.iterrows():
        tone = estimate(load_rgb(row["path"]), points_of(row), masked=False)
        if tone.ita is not None:
            ita.setdefault(row["race"], []).append(tone.ita)
    assert np.median(ita["0"]) > np.median(ita["1"]) + 20
    assert sum(map(len, ita.values())) >= 50  # nearly every colour face gets a tone


@pytest.mark.realdata
def test_greyscale_faces_are_unknown_with_a_reason(utk):
    row = utk.iloc[0]
    grey = np.repeat(load_rgb(row["path"]).mean(2, keepdims=True), 3, 2).astype(np.uint8)
    tone = estimate(grey, points_of(row), masked=False)
    assert tone.bin == "unknown" and "no_chroma" in tone.error


@pytest.mark.realdata
@pytest.mark.slow
def test_audit_report_counts_every_face(utk):
    preds = pd.DataFrame({"id": utk["id"], "split": "test", "correct": True})
    report, table = audit(utk, {"toy": preds}, AuditConfig(workers=2))
    assert sum(report["skin_tone_by_label"]["no_mask"].values()) == len(utk) == len(table)
    assert sum(v["n"] for v in report["models"]["toy"]["per_skin_tone"].values()) == len(utk)
    page = render_html(report)
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
