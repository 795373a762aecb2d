"""synthesize's transfer method: real masks cut from masked faces, worn by unmasked ones."""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.images import content_hashes, load_rgb
from pipeline.ingest import IngestConfig, ingest_source
from pipeline.landmarks import points_of
from pipeline.manifest import WEARS, new_manifest
from pipeline.masks.donors import NotADonor, cut_mask
from pipeline.masks.geometry import qa_failure, with_lower_chin
from pipeline.masks.transfer import transfer_mask
from pipeline.sources import load_catalog
from pipeline.split import SplitConfig, split
from pipeline.synthesize import SynthesizeConfig, cut_donors, sheet, synthesize
from tests.conftest import ROOT, write_image
from tests.test_synthesize import framed_red, landmark

BLUE = (120, 170, 215)
SKIN = (200, 150, 120)


def masked_crop(size: int = 80, colour=BLUE) -> np.ndarray:
    """A drawn face crop: dark hair on top, forehead skin, and from half its height down to the chin a
    mask of `colour` (the lower half of the face's ellipse, 0.76 x 0.48 of the crop)."""
    img = np.full((size, size, 3), (60, 70, 60), np.uint8)
    face = np.zeros((size, size), np.uint8)
    cv2.ellipse(face, (size // 2, size // 2), (round(0.38 * size), round(0.48 * size)), 0, 0, 360, 1, -1)
    img[face > 0] = SKIN
    img[: int(0.1 * size)] = (40, 30, 25)
    lower = np.zeros_like(face)
    lower[size // 2 :] = 1
    img[(face > 0) & (lower > 0)] = colour
    noise = np.random.default_rng(0).normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_the_cut_is_the_mask_and_not_the_skin_around_it():
    crop = masked_crop()
    donor = cut_mask(crop, "d1")
    scale = 96 / 80  # cuts are made at 96 px
    h, w = donor.alpha.shape
    # the drawn mask is 0.76 x 0.48 of the crop; the cut is its box plus a pixel's soft edge
    assert abs(w - 0.76 * 80 * scale) <= 4 and abs(h - 0.48 * 80 * scale) <= 4
    inside = donor.rgb[donor.alpha > 0.9].mean(0)
    assert np.abs(inside - BLUE).max() < 12
    skin = cv2.cvtColor(np.array([[SKIN]], np.uint8), cv2.COLOR_RGB2GRAY)[0, 0]
    assert abs(donor.lightness - skin) < 8  # measured on the skin above the mask
    again = cut_mask(crop, "d1")
    assert (again.alpha == donor.alpha).all() and (again.rgb == donor.rgb).all()


def test_a_face_without_a_mask_shaped_cut_is_not_a_donor():
    with pytest.raises(NotADonor) as bare:
        cut_mask(masked_crop(colour=SKIN))  # nothing on the lower face but skin
    assert bare.value.reason.startswith("donor_")
    flat = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(NotADonor):
        cut_mask(flat)


@pytest.mark.realdata
def test_the_voc_samples_masked_faces_lend_their_masks(voc_sample, tmp_path):
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    faces, _ = ingest_source(catalog["kaggle_face_mask_detection"], voc_sample, IngestConfig(), tmp_path)
    config = SynthesizeConfig(
        sources=("utk",), methods={"transfer": 1.0}, donors=("kaggle_face_mask_detection",), workers=2
    )
    photos = sorted(faces["origin"].unique())[:50]  # 50 of the 125 photos: a third of the time
    faces = faces[faces["origin"].isin(photos)]
    pool, unusable = cut_donors(faces, config)
    large = faces[(faces["label"] == "mask") & (faces[["width", "height"]].min(axis=1) >= 32)]
    assert len(pool) + len(unusable) == len(large) > 50
    assert len(pool) >= 0.9 * len(large), unusable
    assert all(reason.startswith("donor_") for reason, _ in unusable.values())
    # real masks are mostly white, light blue and black; a skin-coloured cut would be a miss
    lab = [cv2.cvtColor(d.rgb, cv2.COLOR_RGB2LAB)[d.alpha > 0.9].mean(0) for d in pool]
    chroma = np.hypot(*(np.array(lab)[:, 1:] - 128).T)
    assert np.median(chroma) < 12


@pytest.fixture(scope="module")
def donor():
    return cut_mask(masked_crop(120), "d1")


@pytest.mark.realdata
@pytest.mark.parametrize("wear", ["correct", "nose_exposed", "chin_exposed"])
def test_a_transferred_mask_covers_what_its_wear_covers_on_real_faces(utk_faces, donor, wear):
    df = landmark(utk_faces[:12])
    passed = 0
    for row in df.to_dict("records"):
        points = points_of(pd.Series(row))
        if points is None:
            continue
        face = load_rgb(row["path"])
        render = transfer_mask(face, points, donor, wear, np.random.default_rng(0))
        passed += qa_failure(render.alpha, points, wear) is None
        judged = with_lower_chin(points)
        for eye in (judged[36:42].mean(0), judged[42:48].mean(0)):
            x, y = np.round(eye).astype(int)
            assert (render.image[y, x] == face[y, x]).all()
        if wear != "nose_exposed":  # the mouth wears the donor's colour, in the face's light
            x, y = np.round(judged[62]).astype(int)
            pixel = render.image[y, x].astype(float)
            assert np.abs(pixel / pixel.sum() - np.array(BLUE) / sum(BLUE)).max() < 0.05
    assert passed >= 10


@pytest.mark.realdata
def test_a_transferred_mask_turns_with_the_face(utk_faces, donor, tmp_path):
    upright = Image.open(utk_faces[3]).convert("RGB")
    face = np.asarray(upright.rotate(25, resample=Image.Resampling.BICUBIC, fillcolor=(128,) * 3))
    points = points_of(landmark([write_image(tmp_path / "tilted.png", face)]).iloc[0])
    render = transfer_mask(face, points, donor, "correct", np.random.default_rng(0))
    assert qa_failure(render.alpha, points, "correct") is None
    # the mask's long axis follows the eye line (PIL turns counter-clockwise)
    ys, xs = np.nonzero(render.alpha > 0.5)
    angle = np.degrees(0.5 * np.arctan2(2 * np.cov(xs, ys)[0, 1], np.var(xs) - np.var(ys)))
    assert -35 < angle < -15


def _with_donors(utk_faces, folder: Path, n: int = 8) -> pd.DataFrame:
    faces = landmark(utk_faces[:n])
    donors = new_manifest(
        {
            "id": f"d{i}",
            "source": "voc",
            "origin": f"d{i}.png",
            "path": str(write_image(folder / f"d{i}.png", masked_crop(90, colour))),
            "label": "mask",
            "group": f"dg{i}",
            "synthetic": False,
            "width": 90,
            "height": 90,
        }
        for i, colour in enumerate([BLUE, (235, 235, 235), (30, 30, 35)])
    )
    rows = pd.concat([faces, donors], ignore_index=True).to_dict("records")
    return new_manifest(row | content_hashes(load_rgb(row["path"])) for row in rows)


@pytest.mark.realdata
def test_synthesize_transfers_real_masks_and_a_split_keeps_each_with_its_donor(utk_faces, tmp_path):
    df = _with_donors(utk_faces, tmp_path / "donors")
    config = SynthesizeConfig(
        sources=("utk",), fraction=1.0, methods={"transfer": 1.0}, donors=("voc",), workers=1
    )
    out, rejected = synthesize(df, config, tmp_path / "a")
    children = out[out["synthetic"]]
    assert len(children) + len(rejected) == 8 and len(children) >= 7
    assert set(children["mask_type"]) == {"transferred"} and set(children["label"]) == {"mask"}
    assert set(children["donor_id"]) <= {"d0", "d1", "d2"} and children["mask_color"].isna().all()
    again, _ = synthesize(df.iloc[::-1], config, tmp_path / "b")
    assert sorted(again["sha256"].dropna()) == sorted(out["sha256"].dropna())
    # donors and wearers have their own groups; the split still keeps each mask on one side
    assigned, _, report = split(out, SplitConfig(ratios={"train": 0.5, "val": 0.25, "test": 0.25}))
    split_of = assigned.set_index("id")["split"]
    wearers = assigned[assigned["donor_id"].notna()]
    assert (wearers["split"].to_numpy() == split_of[wearers["donor_id"]].to_numpy()).all()
    assert report["leakage"]["transferred_masks_apart_from_donor"] == 0


@pytest.mark.realdata
def test_without_a_usable_donor_every_transfer_is_a_rejection(utk_faces, tmp_path):
    df = _with_donors(utk_faces, tmp_path / "donors", n=3)
    config = SynthesizeConfig(
        sources=("utk",), fraction=1.0, methods={"transfer": 1.0}, donors=("voc",), donor_min_size=100
    )
    out, rejected = synthesize(df, config, tmp_path / "faces")
    assert len(out) == len(df) and set(rejected["reason"]) == {"no_donor"} and len(rejected) == 3


def test_transfer_needs_donor_sources():
    with pytest.raises(ValueError, match="donors"):
        SynthesizeConfig(methods={"render": 0.5, "transfer": 0.5})


@pytest.mark.realdata
def test_the_contact_sheet_adds_a_row_of_transferred_masks(utk_faces, tmp_path):
    df = _with_donors(utk_faces, tmp_path / "donors", n=4)
    config = SynthesizeConfig(
        sources=("utk",),
        fraction=1.0,
        mask_types={"surgical": 1.0},
        methods={"render": 0.5, "transfer": 0.5},
        donors=("voc",),
    )
    image = sheet(df, config)
    assert image.shape == (2 * (160 + 28), len(WEARS) * 160, 3)
    for col in range(len(WEARS)):
        drawn, worn = image[:160, col * 160 : (col + 1) * 160], image[188:348, col * 160 : (col + 1) * 160]
        assert worn.std() > 20 and not framed_red(worn)
        assert np.abs(worn.astype(int) - drawn.astype(int)).mean() > 2  # another mask on the same face
