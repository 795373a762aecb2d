import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.audit import BINS, AuditConfig, audit, findings, render_html
from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, known_box, points_of
from pipeline.manifest import label_survival, new_manifest, new_rejected
from pipeline.skin_tone import estimate, greyscale, ita_bin, skin_patches
from tests import browser


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
        tone = estimate(load_rgb(row["path"]), points_of(row))
        if tone.ita is not None:
            ita.setdefault(row["race"], []).append(tone.ita)
    assert np.median(ita["0"]) > np.median(ita["1"]) + 20
    assert sum(map(len, ita.values())) >= 50  # nearly every colour face gets a tone


@pytest.mark.realdata
def test_greyscale_faces_are_unknown_with_a_reason(utk):
    row = utk.iloc[0]
    grey = np.repeat(load_rgb(row["path"]).mean(2, keepdims=True), 3, 2).astype(np.uint8)
    tone = estimate(grey, points_of(row))
    assert tone.bin == "unknown" and "no_chroma" in tone.error


@pytest.mark.realdata
def test_a_colour_face_whose_patches_miss_the_skin_is_not_called_greyscale(utk, tmp_path):
    """The reason tells a grey photo from a colour one whose patches fall on a grey wall,
    hood or background: the test looks at the whole photo, JPEG chroma noise included."""
    row = utk.iloc[2]  # a colour photo (the first is a near-grey portrait of a 110-year-old)
    rgb = load_rgb(row["path"])
    grey = np.repeat(rgb.mean(2, keepdims=True), 3, 2).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=75)
    assert greyscale(load_rgb(tmp_path / "grey.jpg")) and not greyscale(rgb)
    # the face a quarter of a grey studio picture is still a colour photo
    studio = np.full((rgb.shape[0] * 2, rgb.shape[1] * 2, 3), 128, np.uint8)
    studio[: rgb.shape[0], : rgb.shape[1]] = rgb
    assert not greyscale(studio)
    walled = rgb.copy()
    for centre, radius in skin_patches(points_of(row)):
        x, y, r = (round(v) for v in (*centre, radius))
        walled[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = 128
    tone = estimate(walled, points_of(row))
    assert (tone.bin, tone.error) == ("unknown", "no_skin_coloured_patch")


def test_a_fringe_over_most_of_the_skin_coloured_pixels_does_not_darken_the_tone():
    """Brown hair has skin's a* and b*: only its lightness tells it apart. With the darkest
    quarter left out, the tone holds while up to 62% of the skin-coloured pixels are hair
    (the median alone held to 50%, and read a light face under a fringe as `dark`)."""
    rng = np.random.default_rng(0)
    skin, hair = np.array([224, 180, 160]), np.array([85, 58, 40])
    face = np.clip(skin + rng.normal(0, 4, (200, 200, 3)), 0, 255).astype(np.uint8)
    box = (0, 40, 200, 240)  # the box region: rows 30 to 130, columns 40 to 160
    clean = estimate(face, None, box=box)
    fringed = face.copy()
    fringed[30:85] = np.clip(hair + rng.normal(0, 4, (55, 200, 3)), 0, 255)  # 55% of the region
    tone = estimate(fringed, None, box=box)
    assert clean.bin == "very_light" and tone.bin == clean.bin and abs(tone.ita - clean.ita) < 2


@pytest.mark.realdata
def test_without_landmarks_the_box_region_gives_the_landmarks_bin_or_the_next(utk):
    """The fallback for faces whose points do not fit, checked on faces whose points do."""
    order = {name: i for i, name in enumerate(BINS[:-1])}
    steps = []
    for _, row in utk.iterrows():
        rgb = load_rgb(row["path"])
        by_points = estimate(rgb, points_of(row))
        by_box = estimate(rgb, None, box=known_box(rgb.shape[1], rgb.shape[0], LandmarksConfig().box_inset))
        assert (by_points.method, by_box.method) == ("landmarks", "box")
        if by_points.bin in order and by_box.bin in order:
            steps.append(abs(order[by_points.bin] - order[by_box.bin]))
    assert len(steps) >= 0.9 * len(utk)
    assert np.mean(np.array(steps) <= 1) >= 0.85, sorted(steps)


@pytest.mark.realdata
def test_masked_crops_whose_points_fail_get_an_eyes_or_box_tone(voc_sample, tmp_path):
    from pipeline.ingest import IngestConfig, ingest_source
    from pipeline.sources import load_catalog

    catalog = load_catalog(Path(__file__).resolve().parents[1] / "datasets" / "sources.yaml")
    faces, _ = ingest_source(
        catalog["kaggle_face_mask_detection"], voc_sample, IngestConfig(workers=2), tmp_path
    )
    big = faces[faces[["width", "height"]].min(axis=1) >= 32]
    out, _ = add_landmarks(big, LandmarksConfig(workers=2))
    no_points = out["landmark_error"].notna()
    assert no_points.sum() >= 50  # most masked crops: the 68 points do not fit
    assert (out.loc[~no_points, "skin_tone_method"] == "landmarks").all()
    by_eyes = out["landmark_method"] == "eyes"
    assert set(out.loc[no_points, "skin_tone_method"]) == {"eyes", "box"} and by_eyes.sum() >= 20
    assert (out.loc[by_eyes, "skin_tone_method"] == "eyes").all() and out.loc[
        by_eyes, "landmarks"
    ].isna().all()
    # the eyes kept are eyes: level, apart, in the upper part of the crop, and the two models agree
    eyes = np.stack(out.loc[by_eyes, "eyes"].to_numpy()).reshape(-1, 2, 2)
    width, height = out.loc[by_eyes, "width"].to_numpy(), out.loc[by_eyes, "height"].to_numpy()
    apart = eyes[:, 1, 0] - eyes[:, 0, 0]
    assert (apart > 0.15 * width).all() and (np.abs(eyes[:, 1, 1] - eyes[:, 0, 1]) < 0.5 * apart).all()
    assert (eyes[:, :, 1].mean(1) < 0.65 * height).all()
    assert (out.loc[by_eyes, "landmark_shift"] <= LandmarksConfig().max_eye_disagreement).all()
    assert (out["skin_tone_bin"] != "unknown").mean() >= 0.85


@pytest.mark.realdata
@pytest.mark.slow
def test_audit_report_counts_every_face(utk):
    preds = pd.DataFrame(
        {"id": utk["id"], "split": "test", "label": "no_mask", "prediction": "no_mask", "correct": True}
    )
    report, table = audit(utk, {"toy": preds}, AuditConfig())
    tones = report["attributes"]["skin_tone_bin"]
    assert sum(tones["by_label"]["no_mask"].values()) == len(utk) == len(table)
    assert report["attributes"]["race"]["origin"] == "annotation"
    per_tone = report["models"]["toy"]["skin_tone_bin"]["per_group"]
    assert sum(v["n"] for v in per_tone.values()) == len(utk)
    page = render_html(report)
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page


@pytest.mark.realdata
@pytest.mark.slow
def test_a_masked_face_keeps_its_skin_tone_bin_within_one_step(utk, tmp_path):
    from pipeline.synthesize import SynthesizeConfig, synthesize

    out, _ = synthesize(utk, SynthesizeConfig(sources=("utk",), fraction=1.0, workers=2), tmp_path)
    order = {name: i for i, name in enumerate(BINS[:-1])}
    parents = out[~out["synthetic"]].set_index("id")
    steps = []
    for _, child in out[out["synthetic"]].iterrows():
        parent = parents.loc[child["parent_id"]]
        bare = estimate(load_rgb(parent["path"]), points_of(parent))
        masked = estimate(load_rgb(tmp_path / child["path"]), points_of(child))
        if bare.bin in order and masked.bin in order:
            steps.append(abs(order[bare.bin] - order[masked.bin]))
    assert len(steps) >= 50 and max(steps) <= 1, sorted(steps)[-5:]


def _tones(pairs: list[tuple[str, str]], repeat: int) -> pd.DataFrame:
    rows = [
        {
            "id": f"{label}{i}-{k}",
            "split": "test",
            "label": label,
            "source": "s",
            "synthetic": False,
            "skin_tone_bin": tone,
            "skin_tone_error": None,
        }
        for k in range(repeat)
        for i, (label, tone) in enumerate(pairs)
    ]
    return pd.DataFrame(rows)


def test_a_skewed_dataset_warns_and_a_balanced_one_does_not():
    tones = ["very_light", "light", "intermediate", "tan", "brown", "dark"]
    balanced = _tones([(label, tone) for label in ("mask", "no_mask") for tone in tones], 5)
    skewed = _tones(
        [("no_mask", "very_light"), ("no_mask", "light"), ("mask", "brown"), ("mask", "dark")], 15
    )
    assert findings(balanced, {}, AuditConfig())["warnings"] == []
    warnings = findings(skewed, {}, AuditConfig())["warnings"]
    assert any("label and skin_tone_bin are associated" in w for w in warnings)


def test_per_group_rates_match_their_definitions():
    tones = _tones([("mask", "light"), ("no_mask", "light"), ("mask", "dark"), ("no_mask", "dark")], 10)
    preds = tones[["id", "split", "label"]].copy()
    # light faces all right; dark: every mask missed (FNR 1), no_mask all right (FPR 0)
    preds["prediction"] = np.where(tones["skin_tone_bin"] == "dark", "no_mask", preds["label"])
    preds["correct"] = preds["prediction"] == preds["label"]
    report = findings(tones, {"toy": preds}, AuditConfig(bootstrap=50))
    result = report["models"]["toy"]["skin_tone_bin"]
    assert result["per_group"]["light"] | {"accuracy_ci95": None} == {
        "n": 20,
        "accuracy": 1.0,
        "fpr": 0.0,
        "fnr": 0.0,
        "accuracy_ci95": None,
    }
    dark = result["per_group"]["dark"]
    assert dark["accuracy"] == 0.5 and dark["fnr"] == 1.0 and dark["fpr"] == 0.0
    assert dark["accuracy_ci95"][0] < 0.5 < dark["accuracy_ci95"][1]
    assert result["gaps"]["fnr"]["gap"] == 1.0 and result["gaps"]["accuracy"]["gap"] == 0.5
    assert result["gaps"]["fnr"]["groups"] == ["dark", "light"] and result["gaps"]["fnr"]["n"] == [10, 10]
    assert result["gaps"]["fnr"]["ci95"] == [1.0, 1.0] and "fpr" in result["gaps"]
    assert any(
        "fnr differs by 1.00 (dark n=10 vs light n=10, 95% interval 1.00 to 1.00) between skin_tone_bin" in w
        for w in report["warnings"]
    )


def test_a_gap_between_small_groups_whose_interval_spans_zero_is_not_a_finding():
    """Ten faces a group, 7 vs 4 right: a 0.3 accuracy gap the bootstrap cannot tell from 0."""
    tones = _tones([("mask", "light"), ("mask", "dark")], 10)
    preds = tones[["id", "split", "label"]].copy()
    right = {"light": 7, "dark": 4}
    rank = tones.groupby("skin_tone_bin").cumcount()
    preds["prediction"] = np.where(rank < tones["skin_tone_bin"].map(right), "mask", "no_mask")
    preds["correct"] = preds["prediction"] == preds["label"]
    report = findings(tones, {"toy": preds}, AuditConfig(bootstrap=500))
    gap = report["models"]["toy"]["skin_tone_bin"]["gaps"]["accuracy"]
    assert gap["gap"] == pytest.approx(0.3) and gap["ci95"][0] <= 0 < gap["ci95"][1]
    assert not any("differs" in w for w in report["warnings"])
    # the same rates over ten times the faces are a finding
    big = _tones([("mask", "light"), ("mask", "dark")], 100)
    rank = big.groupby("skin_tone_bin").cumcount()
    big_preds = big[["id", "split", "label"]].assign(
        prediction=np.where(rank < big["skin_tone_bin"].map({"light": 70, "dark": 40}), "mask", "no_mask")
    )
    big_preds["correct"] = big_preds["prediction"] == big_preds["label"]
    warnings = findings(big, {"toy": big_preds}, AuditConfig(bootstrap=500))["warnings"]
    assert any("accuracy differs by 0.30 (light n=100 vs dark n=100" in w for w in warnings)


@pytest.mark.skipif(browser.CHROMIUM is None, reason="Debian chromium not installed (see the README)")
def test_the_html_report_renders_in_chromium_with_the_json_numbers(tmp_path):
    tones = _tones([("mask", "light"), ("no_mask", "light"), ("mask", "dark"), ("no_mask", "tan")], 7)
    preds = tones[["id", "split", "label"]].assign(prediction="mask")
    preds["correct"] = preds["prediction"] == preds["label"]
    report = findings(tones, {"toy": preds}, AuditConfig(bootstrap=20))
    page = tmp_path / "index.html"
    page.write_text(render_html(report))
    dom = browser.render(page.as_uri(), "audit_report.png")
    table = re.search(r'<table id="by_label-skin_tone_bin">(.*?)</table>', dom, re.S).group(1)
    rows = [re.findall(r"<t[hd]>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    header, body = rows[0][1:], {row[0]: [int(v) for v in row[1:]] for row in rows[1:]}
    for label, counts in report["attributes"]["skin_tone_bin"]["by_label"].items():
        assert dict(zip(header, body[label], strict=True)) == counts
    text = browser.text_of(dom)
    assert f"{report['rows']} faces." in text and report["warnings"][0] in text


def test_the_datasheet_states_sources_stage_counts_composition_and_findings():
    from pipeline.datasheet import render_datasheet
    from pipeline.sources import load_catalog
    from tests.conftest import ROOT

    tones = _tones([("mask", "light"), ("no_mask", "dark")], 12).assign(synthetic=[True, False] * 12)
    report = findings(tones, {}, AuditConfig())
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["demo"]
    counts = {"ingest": {"rows_in": 30, "rows_out": 26, "rejected_by_reason": {"decode_error": 4}}}
    kept = new_manifest([{"id": f"k{i}", "label": "mask" if i < 16 else "no_mask"} for i in range(26)])
    lost = new_rejected([{"id": f"r{i}", "label": "no_mask", "reason": "min_size"} for i in range(4)])
    survival = label_survival(kept, lost)
    counts["filter"] = {"rows_in": 30, "rows_out": 26, **survival, "label_skew_warning": "filter: skewed"}
    # skin tone: 8 of the 12 mask faces placed by landmarks, 4 by the box; no_mask unknown
    method = [("landmarks" if k < 8 else "box") if i % 2 == 0 else None for k in range(12) for i in range(2)]
    bins = tones["skin_tone_bin"].where(tones["label"] == "mask", "unknown")
    # two photos of 12 faces each (the real ones: 12 no_mask faces of 20..130 px), ingest read 3
    sizes = [{"width": 20 + 10 * k, "height": 200} for k in range(12) for _ in range(2)]
    manifest = tones.assign(
        source="demo",
        skin_tone_method=method,
        skin_tone_bin=bins,
        origin=["a.png", "b.png"] * 12,
        width=[s["width"] for s in sizes],
        height=[s["height"] for s in sizes],
    )
    counts["ingest"]["photos"] = {"in": 3, "with_faces": 2}
    sheet = render_datasheet([source], counts, manifest, report)
    assert "| mask | 12 | 8 | 0 | 4 | 0% |" in sheet and "| no_mask | 12 | 0 | 0 | 0 | 100% |" in sheet
    assert "They show 1 photo (ingest read 3 photos, of which 2 gave at least one face)" in sheet
    assert "| no_mask | 12 | 31 | 75 | 119 |" in sheet  # shorter side: 10th percentile, median, 90th
    # only what applies: the demo ships crops, 12 synthetic faces, LFW's research-use licence
    assert "taken as the sources ship them" in sheet and "annotated boxes" not in sheet
    assert "12 masks were synthesized" in sheet and "one person's folder" not in sheet
    assert "(demo: non-commercial or research use only)" in sheet
    cc0 = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
    real_only = render_datasheet([cc0], counts, manifest.assign(synthetic=False), report)
    assert "annotated boxes" in real_only and "synthesized" not in real_only
    assert "see the table of sources above" in real_only and "research use only" not in real_only
    assert "| ingest | 30 | 26 | decode_error 4 |" in sheet
    # per-label survival: 16 of 16 mask kept, 10 of 14 no_mask; the stage's skew is a known bias
    assert "| filter | 100% of 16 | 71% of 14 | - |" in sheet
    assert "- filter: skewed" in sheet
    assert source.licence in sheet and "| test | 12 | 12 | 0 |" in sheet
    assert "12 of them carry synthetic masks" in sheet
    assert all(w in sheet for w in report["warnings"]) and report["warnings"]
    assert "## Uses" in sheet and "Unsuitable" in sheet


def test_the_datasheet_escapes_catalog_text_for_markdown_tables_and_html():
    from pipeline.datasheet import render_datasheet
    from pipeline.sources import parse_source

    hostile = parse_source(
        "evil",
        {
            "title": "Masks | faces <script>alert(1)</script>",
            "licence": "CC|BY <img src=x onerror=alert(2)>",
            "citation": "line one\nline two",
            "fetch": {"kind": "local"},
            "label_map": {"with_mask": "mask"},
            "parts": [{"path": ".", "layout": "folder_per_class", "faces": "crops"}],
        },
    )
    tones = _tones([("mask", "light"), ("no_mask", "dark")], 3).assign(source="evil")
    sheet = render_datasheet([hostile], {}, tones, findings(tones, {}, AuditConfig()))
    assert "<script>" not in sheet and "<img" not in sheet
    row = next(line for line in sheet.splitlines() if line.startswith("| evil | Masks"))
    assert row == (
        r"| evil | Masks \| faces &lt;script&gt;alert(1)&lt;/script&gt; | "
        r"CC\|BY &lt;img src=x onerror=alert(2)&gt; | line one line two |"
    )
    # four cells: every other | is escaped
    assert row.replace("\\|", "").count("|") == 5


@pytest.mark.realdata
def test_a_utkface_source_gives_annotated_per_race_metrics_in_the_audit(tmp_path, monkeypatch):
    """The catalog's utkface entry, on real UTKFace files laid out as its download is: the
    file names' annotations reach the manifest, and the audit reports each race group."""
    import shutil

    from pipeline.ingest import IngestConfig, ingest_source
    from pipeline.sources import load_catalog
    from tests.conftest import ROOT, SHARED, _require

    files = sorted(_require(SHARED / "utkface-600").glob("*.jpg"))[::6]  # 100 faces, every race
    (tmp_path / "raw" / "UTKFace").mkdir(parents=True)
    for f in files:
        shutil.copy(f, tmp_path / "raw" / "UTKFace" / f.name)
    (tmp_path / "raw" / "UTKFace" / "61_1_20170109150557335.jpg.chip.jpg").write_bytes(files[0].read_bytes())
    monkeypatch.chdir(tmp_path)
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["utkface"]
    faces, rejected = ingest_source(source, tmp_path / "raw", IngestConfig(workers=2), tmp_path / "faces")
    assert rejected.empty and len(faces) == len(files) + 1
    by_name = faces.assign(name=faces["origin"].map(lambda o: o.split("/")[-1])).set_index("name")
    first = files[0].name
    age, gender, race = first.split("_")[:3]
    assert by_name.at[first, "age"] == int(age)
    assert by_name.at[first, "gender"] == {"0": "male", "1": "female"}[gender]
    assert by_name.at[first, "race"] == ["white", "black", "asian", "indian", "other"][int(race)]
    # a published name without the race field stays unannotated, not guessed
    odd = by_name.loc["61_1_20170109150557335.jpg.chip.jpg"]
    assert pd.isna(odd["race"]) and pd.isna(odd["gender"]) and pd.isna(odd["age"])
    # a toy model wrong on every `black` face: the audit's race table must show it
    faces["split"] = "test"
    wrong = faces["race"] == "black"
    preds = pd.DataFrame(
        {
            "id": faces["id"],
            "split": "test",
            "label": "no_mask",
            "prediction": np.where(wrong, "mask", "no_mask"),
            "correct": ~wrong,
        }
    )
    report, _ = audit(faces, {"toy": preds}, AuditConfig())
    race = report["attributes"]["race"]
    assert race["origin"] == "annotation" and report["attributes"]["gender"]["origin"] == "annotation"
    assert sum(race["by_label"]["no_mask"].values()) == len(faces)
    per_race = report["models"]["toy"]["race"]["per_group"]
    assert set(per_race) >= {"white", "black", "asian", "indian"}
    assert per_race["black"]["n"] == int(wrong.sum()) and per_race["white"]["n"] == int(
        (faces["race"] == "white").sum()
    )


def _fairface_like(tmp_path, files, rows: list[str]) -> Path:
    """FairFace's download layout: train/ and val/ image folders beside its label tables."""
    import shutil

    root = tmp_path / "raw"
    for i, f in enumerate(files):
        (root / ("train" if i % 4 else "val")).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / ("train" if i % 4 else "val") / f"{i}.jpg")
    train = [r for r in rows if r.startswith("train/")]
    val = [r for r in rows if r.startswith("val/")]
    header = "file,age,gender,race,service_test\n"
    (root / "fairface_label_train.csv").write_text(header + "".join(f"{r}\n" for r in train))
    (root / "fairface_label_val.csv").write_text(header + "".join(f"{r}\n" for r in val))
    return root


@pytest.mark.realdata
def test_a_fairface_source_gives_annotated_age_bands_and_races_in_the_audit(tmp_path, monkeypatch):
    """The catalog's fairface entry on real faces laid out as its download is: the label
    tables' race, gender and age range reach the manifest, and the audit reports them."""
    from pipeline.ingest import IngestConfig, ingest_source
    from pipeline.sources import load_catalog
    from tests.conftest import ROOT, SHARED, _require

    files = sorted(_require(SHARED / "utkface-600").glob("*.jpg"))[:40]
    races = ["White", "Black", "East Asian", "Indian", "Latino_Hispanic", "Middle Eastern", "Southeast Asian"]
    bands = ["0-2", "3-9", "20-29", "40-49", "more than 70"]
    rows = [
        f"{'train' if i % 4 else 'val'}/{i}.jpg,{bands[i % 5]},{['Female', 'Male'][i % 2]},{races[i % 7]},1"
        for i in range(len(files) - 1)  # the last image is in no table
    ]
    rows[0] = rows[0].replace("Female", "Unknown")  # a code the catalog does not list
    root = _fairface_like(tmp_path, files, rows)
    monkeypatch.chdir(tmp_path)
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["fairface"]
    faces, rejected = ingest_source(source, root, IngestConfig(workers=2), tmp_path / "faces")
    assert rejected.empty and len(faces) == len(files)
    by = faces.set_index("origin")
    assert by.loc["train/1.jpg", ["age_band", "gender", "race"]].tolist() == ["3-9", "male", "black"]
    assert by.loc["train/9.jpg", "age_band"] == "70+" and pd.isna(by.loc["train/9.jpg", "age"])
    assert pd.isna(by.loc["val/0.jpg", "gender"]) and by.loc["val/0.jpg", "race"] == "white"  # not guessed
    last = f"{'train' if (len(files) - 1) % 4 else 'val'}/{len(files) - 1}.jpg"
    assert by.loc[last, ["age_band", "gender", "race"]].isna().all()  # in no table: unannotated
    faces["split"] = "test"
    report, _ = audit(faces, {}, AuditConfig())
    bands_seen = report["attributes"]["age_band"]["by_label"]["no_mask"]
    assert report["attributes"]["age_band"]["origin"] == "annotation"
    assert bands_seen["70+"] == sum(1 for i in range(len(files) - 1) if i % 5 == 4)
    assert bands_seen["unknown"] == 1
    assert set(report["attributes"]["race"]["by_label"]["no_mask"]) >= {"latino_hispanic", "east_asian"}


def test_a_label_table_without_a_named_column_is_one_clear_error(tmp_path):
    from pipeline.errors import SourceError
    from pipeline.sources import load_catalog
    from tests.conftest import ROOT

    (tmp_path / "fairface_label_train.csv").write_text("file,age,sex\ntrain/1.jpg,3-9,Male\n")
    (tmp_path / "fairface_label_val.csv").write_text("file,age,gender,race\n")
    attributes = load_catalog(ROOT / "datasets" / "sources.yaml")["fairface"].attributes
    with pytest.raises(
        SourceError, match=r"fairface_label_train.csv has no column\(s\) \['gender', 'race'\]"
    ):
        attributes.load(tmp_path)
    (tmp_path / "fairface_label_train.csv").unlink()
    with pytest.raises(SourceError, match=r"fairface_label_train\.csv cannot be read"):
        attributes.load(tmp_path)
