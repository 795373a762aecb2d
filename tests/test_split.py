import numpy as np
import pandas as pd
import pytest

from pipeline.manifest import new_manifest, stable_id
from pipeline.split import SplitConfig, assign_groups, leakage, link_imagefolder, split

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
    with pytest.raises(ValueError, match="ratios"):
        SplitConfig(ratios=ratios)


def test_imagefolder_tree_links_every_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df, _, _ = split(data(10), SplitConfig(ratios=RATIOS))
    for p in df["path"]:
        (tmp_path / p).write_bytes(b"png")
    assert link_imagefolder(df, tmp_path / "tree") == len(df)
    files = sorted(tmp_path.glob("tree/*/*/*.png"))
    assert len(files) == len(df)
    assert np.all([f.parent.name in {"mask", "no_mask"} for f in files])
