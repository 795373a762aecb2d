import numpy as np
import pytest
from PIL import Image

from pipeline.dedup import DedupConfig, dedup
from pipeline.images import content_hashes, load_rgb
from pipeline.manifest import new_manifest


def row(i: str, rgb: np.ndarray, label: str = "no_mask", group: str | None = None, **extra) -> dict:
    return {
        "id": i,
        "source": "s",
        "origin": f"{i}.png",
        "path": f"{i}.png",
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "label": label,
        "group": group or f"g{i}",
        "synthetic": False,
        **content_hashes(rgb),
        **extra,
    }


@pytest.fixture
def faces(utk_faces):
    return [load_rgb(p) for p in utk_faces[:12]]


def test_distinct_real_faces_are_all_kept(faces):
    kept, rejected = dedup(new_manifest(row(f"f{i}", f) for i, f in enumerate(faces)), DedupConfig())
    assert len(kept) == len(faces) and len(rejected) == 0


def test_copies_are_clustered_and_one_representative_kept(faces):
    face = faces[0]
    small = np.asarray(Image.fromarray(face).resize((100, 100)))
    rows = [
        row("orig", face, group="photoA"),
        row("copy", face.copy(), group="photoB"),  # byte-identical pixels
        row("mirror", face[:, ::-1].copy()),
        row("small", small),  # smaller: must not be the one kept
        row("siblingB", faces[10], group="photoB"),  # another face on photo B
        *(row(f"other{i}", f) for i, f in enumerate(faces[1:10])),
    ]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(phash_distance=4))
    reasons = dict(zip(rejected["id"], rejected["reason"], strict=True))
    assert reasons["mirror"] == "near_duplicate" and reasons["small"] == "near_duplicate"
    assert {reasons.get("orig"), reasons.get("copy")} == {None, "exact_duplicate"}
    rep = kept[kept["id"].isin(["orig", "copy"])]
    assert len(rep) == 1
    assert (rejected["detail"] == f"duplicate_of={rep['id'].item()}").all()
    # the kept row stands for photos A and B and the mirror: their groups merge, so B's
    # other face lands in the same split as the representative
    groups = kept.set_index("id")["group"]
    assert groups["siblingB"] == rep["group"].item()
    assert groups.drop(["siblingB", rep["id"].item()]).nunique() == 9


def test_duplicates_that_disagree_on_label_are_all_rejected(faces):
    rows = [row("a", faces[0], "mask"), row("b", faces[0].copy(), "no_mask"), row("c", faces[1])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig())
    assert list(kept["id"]) == ["c"]
    assert set(rejected["reason"]) == {"label_conflict"}
    assert "with b" in rejected.set_index("id").at["a", "detail"]


def test_real_kept_over_synthetic(faces):
    rows = [row("synth", faces[0], synthetic=True), row("real", faces[0].copy())]
    kept, _ = dedup(new_manifest(rows), DedupConfig())
    assert list(kept["id"]) == ["real"]
