import numpy as np
import pandas as pd
import pytest

from pipeline.config import parse
from pipeline.errors import ParamsError
from pipeline.manifest import new_manifest, stable_id
from pipeline.split import Holdout, SplitConfig, assign_groups, leakage, link_imagefolder, split

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


def phash_for(i: int) -> str:
    """Hashes far apart from each other (distance >= 16 for distinct i)."""
    return f"{int(stable_id(i), 16):016x}"


def data(n_groups: int = 60, source: str = "a") -> pd.DataFrame:
    rows = []
    for g in range(n_groups):
        for k in range(1 + g % 3):  # multi-face photos: 1-3 crops per group
            i = f"{source}{g}_{k}"
            h = phash_for(hash((source, g, k)) % 10**9)
            rows.append(
                {
                    "id": i,
                    "source": source,
                    "origin": f"{g}.png",
                    "path": f"{i}.png",
                    "label": "mask" if g % 2 else "no_mask",
                    "group": f"{source}{g}",
                    "sha256": stable_id("px", i),
                    "phash": h,
                    "phash_mirror": h,
                    "synthetic": False,
                    "width": 50,
                    "height": 50,
                }
            )
    return new_manifest(rows)


def test_groups_never_span_splits_and_ratios_hold():
    df, rejected, report = split(data(), SplitConfig(ratios=RATIOS))
    assert rejected.empty
    assert df.groupby("group")["split"].nunique().max() == 1
    assert report["leakage"] == {k: 0 for k in report["leakage"]}
    shares = df["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.6) < 0.08 and abs(shares["test"] - 0.2) < 0.08
    for label in ("mask", "no_mask"):  # stratified: every split has both classes
        assert (df[df["label"] == label]["split"].value_counts() > 0).all()


def test_synthetic_children_follow_their_parents():
    df = data()
    children = df[df["label"] == "no_mask"].copy()
    children["parent_id"] = children["id"]
    children["id"] = "child_" + children["id"]
    children["label"] = "mask"
    children["synthetic"] = True
    children["sha256"] = "c" + children["sha256"]
    out, _, report = split(pd.concat([df, children]), SplitConfig(ratios=RATIOS))
    assert report["leakage"]["synthetic_children_apart_from_parent"] == 0
    by_id = out.set_index("id")["split"]
    assert (by_id[children["id"]].to_numpy() == by_id[children["parent_id"]].to_numpy()).all()


def test_adding_a_source_leaves_existing_assignments_alone():
    config = SplitConfig(ratios=RATIOS)
    before = assign_groups(data(), config)
    after = assign_groups(pd.concat([data(), data(40, source="b")]), config)
    assert all(after[g] == s for g, s in before.items())


def test_assignment_does_not_depend_on_row_order():
    df = data()
    config = SplitConfig(ratios=RATIOS, seed=3)
    assert assign_groups(df, config) == assign_groups(df.sample(frac=1, random_state=1), config)
    assert assign_groups(df, config) != assign_groups(df, SplitConfig(ratios=RATIOS, seed=4))


def test_leakage_check_sees_a_planted_leak():
    df, _, _ = split(data(), SplitConfig(ratios=RATIOS))
    train_row = df[df["split"] == "train"].index[0]
    test_row = df[df["split"] == "test"].index[0]
    df.loc[test_row, ["phash", "phash_mirror", "sha256"]] = df.loc[
        train_row, ["phash", "phash_mirror", "sha256"]
    ]
    df.loc[test_row, "group"] = df.loc[train_row, "group"]
    leaks = leakage(df, 4)
    assert leaks["groups_crossing_splits"] == 1
    assert leaks["identical_pixels_crossing_splits"] == 1
    assert leaks["near_duplicate_pairs_crossing_splits"] >= 1


def test_undersample_balances_train_and_records_what_it_dropped():
    df = data()
    df = pd.concat(
        [
            df,
            df[df["label"] == "no_mask"].assign(
                id=lambda d: "extra_" + d["id"], sha256=lambda d: "x" + d["sha256"]
            ),
        ]
    )
    out, rejected, report = split(df, SplitConfig(ratios=RATIOS, balance="undersample"))
    labels = report["counts"]["train"]["labels"]
    assert labels["mask"] == labels["no_mask"]
    assert len(out) + len(rejected) == len(df)
    assert set(rejected["reason"]) == {"undersampled"}


@pytest.mark.parametrize("ratios", [{"train": 0.5, "val": 0.2, "test": 0.2}, {"train": 1.0}])
def test_bad_ratios_are_refused(ratios):
    with pytest.raises(ParamsError, match="ratios"):
        parse(SplitConfig, {"ratios": ratios}, "split")


def test_imagefolder_tree_links_every_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df, _, _ = split(data(10), SplitConfig(ratios=RATIOS))
    for p in df["path"]:
        (tmp_path / p).write_bytes(b"png")
    assert link_imagefolder(df, tmp_path / "tree") == len(df)
    files = sorted(tmp_path.glob("tree/*/*/*.png"))
    assert len(files) == len(df)
    assert np.all([f.parent.name in {"mask", "no_mask"} for f in files])


def test_hash_assignment_never_moves_a_group_when_data_grows():
    config = SplitConfig(ratios=RATIOS, assignment="hash")
    before = assign_groups(data(200), config)
    after = assign_groups(
        pd.concat([data(200), data(200, source="b"), data(400)]).drop_duplicates("id"), config
    )
    assert all(after[g] == s for g, s in before.items())
    shares = pd.Series(after).value_counts(normalize=True)
    assert abs(shares["train"] - 0.6) < 0.06 and abs(shares["test"] - 0.2) < 0.05
    # `ordered` cuts exactly, so growth inside a stratum may move groups near a cut
    ordered = SplitConfig(ratios=RATIOS)
    small, big = assign_groups(data(200), ordered), assign_groups(data(400), ordered)
    assert any(big[g] != s for g, s in small.items())


def test_a_holdout_source_goes_to_test_whole_with_the_groups_it_shares():
    a, b = data(60), data(30, source="b")
    b.loc[b.index[0], "group"] = a["group"].iloc[0]  # b's first photo is also one of a's
    config = SplitConfig(ratios=RATIOS, holdout=Holdout(sources=("b",), groups=("a7",)))
    out, _, report = split(pd.concat([a, b]), config)
    assert set(out.loc[out["source"] == "b", "split"]) == {"test"}
    assert set(out.loc[out["group"].isin([a["group"].iloc[0], "a7"]), "split"]) == {"test"}
    rest = out[(out["source"] == "a") & ~out["group"].isin([a["group"].iloc[0], "a7"])]
    assert {"train", "val", "test"} == set(rest["split"])
    assert all(v == 0 for v in report["leakage"].values())
    with pytest.raises(ParamsError, match=r"split.holdout` has unknown key"):
        parse(SplitConfig, {"ratios": RATIOS, "holdout": {"labels": ["mask"]}}, "split")


def test_oversample_repeats_train_minority_rows_and_the_tree_shows_them(tmp_path, monkeypatch):
    df = data()
    df = df[(df["label"] == "mask") | (df.index % 3 == 0)]  # fewer no_mask rows
    out, rejected, report = split(df, SplitConfig(ratios=RATIOS, balance="oversample"))
    assert rejected.empty and len(out) == len(df)
    train = report["counts"]["train"]
    assert train["labels"]["mask"] > train["labels"]["no_mask"]
    drawn = train["labels_oversampled"]
    assert abs(drawn["mask"] - drawn["no_mask"]) <= 1 or drawn["mask"] == drawn["no_mask"]
    assert set(out.loc[out["split"] != "train", "repeats"]) == {1}
    monkeypatch.chdir(tmp_path)
    for p in out["path"]:
        (tmp_path / p).write_bytes(b"png")
    assert link_imagefolder(out, tmp_path / "tree") == int(out["repeats"].sum())
    assert len(list((tmp_path / "tree/train/no_mask").glob("*.png"))) == drawn["no_mask"]


@pytest.mark.realdata
@pytest.mark.slow
def test_no_leak_through_the_real_pipeline_on_the_shared_samples(
    voc_sample, utk_faces, tmp_path, monkeypatch
):
    """Kaggle VOC sample (twin photos, crowds) plus UTKFace faces, one of them copied under
    another name, plus synthetic masked children: ingest -> dedup -> landmarks -> synthesize
    -> split, and nothing crosses."""
    from pipeline.dedup import DedupConfig, dedup
    from pipeline.images import content_hashes, load_rgb
    from pipeline.ingest import IngestConfig, ingest_source, join_copies
    from pipeline.landmarks import LandmarksConfig, add_landmarks
    from pipeline.sources import load_catalog
    from pipeline.synthesize import SynthesizeConfig, synthesize
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
    voc, _ = ingest_source(source, voc_sample, IngestConfig(workers=2), tmp_path / "voc")
    utk_paths = [*utk_faces[:20], utk_faces[0]]
    rows = []
    for i, path in enumerate(utk_paths):
        rgb = load_rgb(path)
        rows.append(
            {
                "id": f"utk{i}",
                "source": "utk",
                "origin": f"copy_{path.name}" if i == 20 else path.name,
                "path": str(path),
                "label": "no_mask",
                "group": f"utk:{i}",
                "synthetic": False,
                "width": rgb.shape[1],
                "height": rgb.shape[0],
                **content_hashes(rgb),
            }
        )
    df = join_copies(pd.concat([voc, new_manifest(rows)], ignore_index=True))
    kept, rejected = dedup(df, DedupConfig(workers=2))
    assert "utk20" in set(rejected["id"]) or "utk0" in set(rejected["id"])  # the copy is caught
    landmarked, _ = add_landmarks(kept, LandmarksConfig(workers=2))
    synth = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=2)
    full, _ = synthesize(landmarked, synth, tmp_path / "synth")
    out, _, report = split(full, SplitConfig(ratios=RATIOS))
    assert report["leakage"] == {
        "groups_crossing_splits": 0,
        "identical_pixels_crossing_splits": 0,
        "near_duplicate_pairs_crossing_splits": 0,
        "synthetic_children_apart_from_parent": 0,
        "transferred_masks_apart_from_donor": 0,
    }
    assert out["synthetic"].sum() >= 18
    twins = out[out["origin"].str.contains("maksssksksss410|maksssksksss428")]
    assert len(twins) and twins["split"].nunique() == 1


@pytest.mark.parametrize("assignment", ["ordered", "hash"])
def test_near_duplicates_of_different_groups_share_a_split(assignment):
    """Masks drawn after dedup can make two faces of different groups alike: each such
    pair (whole or mirrored pHash within phash_distance) pulls its groups together."""
    df = data()
    twins = {}
    for g in range(0, 60, 3):  # a row of group g gets a pHash 3 bits from one of group g+1
        a, b = df.index[df["group"] == f"a{g}"][0], df.index[df["group"] == f"a{g + 1}"][0]
        near = f"{int(df.at[a, 'phash'], 16) ^ 0b111:016x}"
        df.loc[b, "phash_mirror" if g % 2 else "phash"] = near
        twins[f"a{g}"] = f"a{g + 1}"
    config = SplitConfig(ratios=RATIOS, assignment=assignment, holdout=Holdout(groups=("a1",)))
    out, _, report = split(df, config)
    split_of = out.groupby("group")["split"].first()
    assert all(split_of[a] == split_of[b] for a, b in twins.items())
    assert split_of["a0"] == "test"  # held out with its twin a1
    assert report["leakage"]["near_duplicate_pairs_crossing_splits"] == 0
    assert report["assignment_units"] == report["groups"] - len(twins)
    # without the joining, some pairs would have crossed: the test has teeth
    plain = split(data(), SplitConfig(ratios=RATIOS, assignment=assignment))[0]
    apart = plain.groupby("group")["split"].first()
    assert any(apart[a] != apart[b] for a, b in twins.items())
