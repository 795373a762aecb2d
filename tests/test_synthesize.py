from collections import Counter

import numpy as np
import pytest
from PIL import Image

from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, points_of
from pipeline.manifest import WEARS, new_manifest
from pipeline.masks.canvas import face_frame
from pipeline.masks.geometry import outline, qa_failure, with_lower_chin
from pipeline.masks.kinds import KINDS
from pipeline.masks.render import render_mask
from pipeline.masks.textures import PATTERNS
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
from tests.conftest import write_image


def landmark(paths, **extra):
    df = new_manifest(
        {
            "id": f"r{i}",
            "source": "utk",
            "origin": p.name,
            "path": str(p),
            "label": "no_mask",
            "group": f"g{i}",
            "synthetic": False,
            "width": 200,
            "height": 200,
        }
        for i, p in enumerate(paths)
    )
    out, _ = add_landmarks(df, LandmarksConfig(workers=2))
    return out


@pytest.fixture
def landmarked(utk_faces):
    return landmark(utk_faces[:10])


@pytest.mark.realdata
def test_every_selected_face_gets_a_masked_child_sharing_its_group(landmarked, tmp_path):
    config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1)
    out, rejected = synthesize(landmarked, config, tmp_path / "faces")
    children = out[out["synthetic"]]
    assert len(children) + len(rejected) == 10 and len(out) == 10 + len(children)
    assert len(children) >= 9
    parents = out.set_index("id")
    for _, child in children.iterrows():
        assert child["label"] == "mask" and child["wear"] == "correct"
        assert child["group"] == parents.at[child["parent_id"], "group"]
        assert child["mask_type"] in KINDS and child["mask_color"] in config.colors
        before = load_rgb(parents.at[child["parent_id"], "path"]).astype(int)
        after = load_rgb(tmp_path / child["path"]).astype(int)
        points = points_of(child)
        # the mouth changed, the eyes did not
        mouth = points[48:68].mean(0).round().astype(int)
        eye = points[36:42].mean(0).round().astype(int)
        assert np.abs(after[mouth[1], mouth[0]] - before[mouth[1], mouth[0]]).sum() > 20
        assert np.abs(after[eye[1], eye[0]] - before[eye[1], eye[0]]).sum() == 0


@pytest.mark.realdata
def test_selection_and_rendering_are_deterministic(landmarked, tmp_path):
    config = SynthesizeConfig(sources=("utk",), fraction=0.5, workers=1)
    a, _ = synthesize(landmarked, config, tmp_path / "a")
    b, _ = synthesize(landmarked.iloc[::-1], config, tmp_path / "b")
    assert sorted(a["id"]) == sorted(b["id"])
    assert sorted(a["sha256"].dropna()) == sorted(b["sha256"].dropna())
    # a face's fate does not depend on what else is in the set
    c, _ = synthesize(landmarked.iloc[:5], config, tmp_path / "c")
    assert set(c.loc[c["synthetic"], "parent_id"]) == set(
        a.loc[a["synthetic"] & a["parent_id"].isin(landmarked["id"].iloc[:5]), "parent_id"]
    )


@pytest.mark.realdata
def test_faces_without_landmarks_are_rejected_not_skipped(landmarked, tmp_path):
    broken = landmarked.copy()
    broken["landmarks"] = None
    broken["landmark_error"] = "implausible_geometry"
    out, rejected = synthesize(broken, SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1), tmp_path)
    assert len(out) == 10 and len(rejected) == 10
    assert set(rejected["reason"]) == {"no_landmarks"}
    assert rejected["detail"].str.contains("implausible_geometry").all()


def _changed(before: np.ndarray, after: np.ndarray, point: np.ndarray) -> bool | None:
    """Whether the pixels around a landmark changed; None when it lies outside the image."""
    x, y = np.round(point).astype(int)
    h, w = before.shape[:2]
    if not (1 <= x < w - 1 and 1 <= y < h - 1):
        return None
    patch = np.s_[y - 1 : y + 2, x - 1 : x + 2]
    return bool(np.abs(after[patch].astype(int) - before[patch].astype(int)).sum(-1).mean() > 12)


# wear -> (landmarks that must change, landmarks that must not): nose tip, mouth centre,
# lower chin (QA's point 69), eye centres
PARTS = {"nose": 30, "mouth": 66, "chin": 69}
GEOMETRY = {
    "correct": (("nose", "mouth", "chin"), ()),
    "nose_exposed": (("mouth", "chin"), ("nose",)),
    "nose_mouth_exposed": (("chin",), ("nose", "mouth")),
    "chin_exposed": (("nose", "mouth"), ()),
}


@pytest.mark.realdata
@pytest.mark.parametrize("wear", list(WEARS))
def test_every_wear_masks_the_utkface_sample_evenly_and_covers_the_right_parts(utk_faces, tmp_path, wear):
    df = landmark(utk_faces)
    config = SynthesizeConfig(sources=("utk",), fraction=1.0, wears={wear: 1.0}, workers=2)
    out, rejected = synthesize(df, config, tmp_path / "faces")
    children = out[out["synthetic"]]
    assert len(children) >= 59, rejected[["reason", "detail"]].to_dict("records")
    # no race x gender cell (from the UTKFace file names) loses more than one face
    cell = {p.name: tuple(p.name.split("_")[1:3]) for p in utk_faces}
    lost = Counter(cell[o] for o in rejected["origin"])
    assert max(lost.values(), default=0) <= 1, lost
    assert set(children["label"]) == {"mask" if wear == "correct" else "incorrect_mask"}
    assert set(children["wear"]) == {wear} and children["mask_type"].nunique() >= 3
    parents = out.set_index("id")
    must_change, must_keep = GEOMETRY[wear]
    for _, child in children.iterrows():
        before = load_rgb(parents.at[child["parent_id"], "path"])
        after = load_rgb(tmp_path / child["path"])
        points = with_lower_chin(points_of(child))
        for part in must_change:
            assert _changed(before, after, points[PARTS[part]]) in (True, None), (child["origin"], part)
        for part in must_keep:
            assert _changed(before, after, points[PARTS[part]]) in (False, None), (child["origin"], part)
        for eye in (points[36:42].mean(0), points[42:48].mean(0)):
            assert _changed(before, after, eye) is False


@pytest.mark.realdata
def test_a_tilted_face_gets_a_tilted_mask_that_still_covers(utk_faces, tmp_path):
    face = (
        Image.open(utk_faces[3])
        .convert("RGB")
        .rotate(25, resample=Image.Resampling.BICUBIC, fillcolor=(128,) * 3)
    )
    row = landmark([write_image(tmp_path / "tilted.png", np.asarray(face))]).iloc[0]
    points = points_of(row)
    render = render_mask(np.asarray(face), points, "surgical", "white")
    assert qa_failure(render.alpha, points, "correct") is None
    mask_outline = outline(points)
    frame = face_frame(points, mask_outline, render.alpha.shape)
    assert -35 < frame.angle < -15  # PIL rotates counter-clockwise: the eye line falls to the right


@pytest.mark.realdata
def test_edges_are_antialiased_without_a_halo(landmarked):
    row = landmarked.iloc[0]
    face = load_rgb(row["path"])
    for kind in KINDS:
        render = render_mask(face, points_of(row), kind, "white", rng=np.random.default_rng(1))
        edge = (render.alpha > 0.05) & (render.alpha < 0.95)
        assert edge.sum() > 50  # soft edge pixels exist: no hard, jagged cut
        # an edge pixel mixes skin and mask: never brighter than both (MaskTheFace's light halo)
        inside = render.image[render.alpha > 0.99].max(axis=0).astype(int)
        brightest = np.maximum(face[edge].astype(int), inside)
        assert (render.image[edge].astype(int) <= brightest + 3).all(), kind


def test_cloth_patterns_are_real_patterns(rng):
    points = np.zeros((68, 2), np.float32)
    points[:17, 0] = np.linspace(20, 180, 17)  # a face 160 px wide, level
    points[:17, 1] = 100 + 60 * np.sin(np.linspace(0, np.pi, 17))
    points[17:, 0], points[17:, 1] = 100, 110
    points[36:42], points[42:48] = (70, 80), (130, 80)
    frame = face_frame(points, outline(points), (200, 200))
    for name, pattern in PATTERNS.items():
        amount = pattern(frame, np.random.default_rng(3))
        assert amount.min() >= 0 and amount.max() <= 1
        if name != "plain":
            assert 0.05 < amount.mean() < 0.7, name  # some of each colour
            assert ((amount > 0) & (amount < 1)).any(), name  # anti-aliased edges


def framed_red(tile: np.ndarray) -> bool:
    """The sheet's QA frame: most of the tile's 3 px border is pure red (a red mask inside
    the tile is not a frame)."""
    border = np.concatenate(
        [
            tile[:3].reshape(-1, 3),
            tile[-3:].reshape(-1, 3),
            tile[:, :3].reshape(-1, 3),
            tile[:, -3:].reshape(-1, 3),
        ]
    )
    return bool(((border[:, 0] > 200) & (border[:, 1] < 60)).mean() > 0.8)


@pytest.mark.realdata
def test_the_contact_sheet_shows_every_kind_in_every_wear(landmarked):
    config = SynthesizeConfig(sources=("utk",), fraction=1.0)
    image = sheet(landmarked, config)
    assert image.shape == (len(KINDS) * (160 + 28), len(WEARS) * 160, 3)
    for row in range(len(KINDS)):
        for col in range(len(WEARS)):
            tile = image[row * 188 : row * 188 + 160, col * 160 : (col + 1) * 160]
            assert tile.std() > 20  # a face, not a blank cell
            assert not framed_red(tile)  # no QA failure


@pytest.mark.realdata
def test_the_contact_sheet_frames_what_synthesis_would_reject_at_its_min_coverage(landmarked):
    """The sheet's QA is synthesis's own, at synthesize.min_coverage, not a default."""

    def framed(min_coverage: float) -> int:
        config = SynthesizeConfig(sources=("utk",), fraction=1.0, min_coverage=min_coverage)
        image = sheet(landmarked, config)
        tiles = [
            image[row * 188 : row * 188 + 160, col * 160 : (col + 1) * 160]
            for row in range(len(KINDS))
            for col in range(len(WEARS))
        ]
        return sum(framed_red(t) for t in tiles)

    assert framed(0.95) == 0 and framed(1.01) == len(KINDS) * len(WEARS)  # nothing covers 101%


def test_unknown_mask_type_or_wear_is_refused():
    from pipeline.config import parse
    from pipeline.errors import ParamsError

    for values, message in [
        ({"mask_types": ["bandana"]}, r"`synthesize.mask_types.bandana` must be one of 'surgical'"),
        ({"colors": {"teal": 1.0}}, r"`synthesize.colors.teal` must be one of 'light_blue'"),
        ({"colors": ["white", "white"]}, r"`synthesize.colors` lists a value twice"),
        ({"mask_types": {"surgical": 0.0}}, r"`synthesize`: mask_types: the weights must not all be 0"),
        ({"wears": {"on_forehead": 1.0}}, r"`synthesize.wears.on_forehead` must be one of 'correct'"),
        ({"wears": {"correct": 0.0}}, r"`synthesize`: wears: the weights must not all be 0"),
    ]:
        with pytest.raises(ParamsError, match=message):
            parse(SynthesizeConfig, values, "synthesize")


def level_face(width: float = 160.0) -> np.ndarray:
    """68 points of a level, frontal face `width` px wide on a 200 px image, laid out as
    dlib's are: the jaw from ear to ear starting at eye level, the nose, the mouth."""
    points = np.zeros((68, 2), np.float32)
    t = np.linspace(0, np.pi, 17)
    points[:17] = np.c_[100 - width / 2 * np.cos(t), 82 + 0.55 * width * np.sin(t)]
    points[17:27] = np.c_[np.linspace(100 - 0.4 * width, 100 + 0.4 * width, 10), np.full(10, 62)]
    points[27:31] = np.c_[np.full(4, 100), np.linspace(85, 115, 4)]
    points[31:36] = np.c_[np.linspace(90, 110, 5), np.full(5, 120)]
    ring = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    points[36:42] = np.c_[100 - 0.19 * width + 10 * np.cos(ring[::2]), 80 + 4 * np.sin(ring[::2])]
    points[42:48] = np.c_[100 + 0.19 * width + 10 * np.cos(ring[::2]), 80 + 4 * np.sin(ring[::2])]
    points[48:60] = np.c_[100 - 22 * np.cos(ring), 142 + 9 * np.sin(ring)]
    points[60:68] = np.c_[100 - 14 * np.cos(ring[::2][:4].repeat(2)), np.full(8, 142)]
    return points


def test_polka_dots_are_whole_discs_in_every_row():
    import cv2

    frame = face_frame(level_face(), outline(level_face()), (200, 200))
    for seed in range(5):
        rng = np.random.default_rng(seed)
        amount = PATTERNS["dots"](frame, rng)
        count, _, stats, _ = cv2.connectedComponentsWithStats((amount > 0.5).astype(np.uint8))
        whole = [
            stats[i]
            for i in range(1, count)
            if stats[i, 0] > 0
            and stats[i, 1] > 0
            and stats[i, 0] + stats[i, 2] < 200
            and stats[i, 1] + stats[i, 3] < 200
        ]
        assert len(whole) > 10
        for _, _, w, h, area in whole:
            # a disc fills pi/4 of a square box; a half disc is twice as wide as it is tall
            assert abs(w - h) <= 2 and area >= 0.5 * w * h, (seed, w, h, area)


def test_kinds_and_colours_are_drawn_by_their_weights():
    from pipeline.synthesize import plan

    df = new_manifest(
        {"id": f"f{i}", "source": "utk", "origin": f"{i}.png", "path": f"{i}.png", "label": "no_mask",
         "group": f"g{i}", "synthetic": False, "width": 200, "height": 200}
        for i in range(2000)
    )  # fmt: skip
    config = SynthesizeConfig(
        sources=("utk",), fraction=1.0, mask_types={"surgical": 3.0, "cloth": 1.0, "n95": 0.0},
        colors={"white": 0.5, "black": 0.5},
    )  # fmt: skip
    jobs = plan(df, config)
    kinds, colours = Counter(j.kind for j in jobs), Counter(j.color for j in jobs)
    assert set(kinds) == {"surgical", "cloth"}  # weight 0: never drawn
    assert 0.72 < kinds["surgical"] / len(jobs) < 0.78
    assert 0.46 < colours["white"] / len(jobs) < 0.54
    # a list of names is the same as equal weights
    from pipeline.config import parse

    listed = parse(SynthesizeConfig, {"sources": ["utk"], "fraction": 1.0, "colors": ["white", "black"]}, "s")
    assert listed.colors == {"white": 1.0, "black": 1.0}


def _paint(kind: str, wear: str, points: np.ndarray, shape=(200, 200)):
    """The kind's Paint on `points`, from the context render_mask builds."""
    from pipeline.masks.render import mask_context

    ctx = mask_context(points, wear, "white", shape, np.random.default_rng(0))
    return KINDS[kind](ctx), ctx.outline, ctx.alpha


def _distance_to(chain: np.ndarray, shape=(200, 200)) -> np.ndarray:
    import cv2

    drawn = np.full(shape, 255, np.uint8)
    cv2.polylines(drawn, [np.round(chain).astype(np.int32)], False, 0, 1)
    return cv2.distanceTransform(drawn, cv2.DIST_L2, 3)


@pytest.mark.parametrize("wear", list(WEARS))
def test_ear_loops_run_along_the_face_edge_to_the_ears(wear):
    points = level_face()
    width = 160.0
    for kind in ("surgical", "kn95", "cloth"):
        paint, mask, _ = _paint(kind, wear, points)
        loops = paint.straps > 0.3
        assert loops.sum() > 20, (kind, wear)
        # every loop pixel lies near the jaw line (the face's edge), none across the cheek
        near = _distance_to(mask.jaw)[loops]
        assert near.max() < 0.045 * width, (kind, wear, near.max())
        # and both loops reach the ears (jaw points 1 and 15)
        ys, xs = np.nonzero(loops)
        for ear in (1, 15):
            reach = np.hypot(xs - points[ear, 0], ys - points[ear, 1]).min()
            assert reach < 0.06 * width, (kind, wear, ear, reach)


@pytest.mark.parametrize("wear", list(WEARS))
def test_respirator_straps_run_back_past_the_face_below_the_eyes(wear):
    points = level_face()
    paint, _, _ = _paint("respirator", wear, points)
    ys, xs = np.nonzero(paint.straps > 0.3)
    eye_line = points[36:48, 1].max()
    assert ys.min() > eye_line, (ys.min(), eye_line)  # no strap ends as a dash by an eye
    assert xs.min() < points[0, 0] and xs.max() > points[16, 0]  # both leave the face's edge


def test_respirator_parts_are_whole_on_a_crop_that_cuts_the_chin():
    from pipeline.masks.kinds import cartridges

    for drop in (0, 20, 40, 60):
        points = level_face() + np.array([0.0, drop])  # the chin reaches, then leaves, the image bottom
        for wear in WEARS:
            mask = outline(points, wear)
            for (x, y), r in cartridges(mask, (200, 200), 160.0):
                assert r >= 0.07 * 160 * 0.6
                assert r <= x <= 199 - r and y <= 199 - r, (drop, wear, x, y, r)


def _skin(sigma: float, seed: int = 0) -> np.ndarray:
    """A flat, evenly lit skin-coloured face image with Gaussian pixel noise of `sigma`."""
    noise = np.random.default_rng(seed).normal(0, sigma, (200, 200, 1)) if sigma else 0
    return np.clip(np.full((200, 200, 3), (190, 150, 130), np.float64) + noise, 0, 255).astype(np.uint8)


def test_the_mask_is_lit_as_a_surface_that_follows_the_nose():
    from pipeline.masks.render import _relief

    points = level_face()
    for shift in (0.0, 25.0):  # frontal, then a head turned so the nose sits right of centre
        turned = points.copy()
        turned[27:36, 0] += shift
        mask = outline(turned)
        frame = face_frame(turned, mask, (200, 200))
        _, _, alpha = _paint("surgical", "correct", turned)
        relief = _relief(alpha, frame, turned)
        y = int(turned[33, 1]) + 5
        row = np.where(alpha[y] > 0.99)[0]
        crest = round(float(turned[30, 0]))
        assert relief[y, crest] > 0.97  # brightest on the crest under the nose
        assert relief[y, row[3]] < relief[y, crest] - 0.15  # turned away at both sides
        assert relief[y, row[-4]] < relief[y, crest] - 0.15
        brightest = row[np.argmax(relief[y, row])]
        assert abs(brightest - crest) <= 3, (shift, brightest, crest)


def test_the_mask_shades_the_skin_under_it():
    face = _skin(0)
    points = level_face()
    render = render_mask(face, points, "kn95", "white", rng=np.random.default_rng(0))
    bottom = np.where(render.alpha[:, 100] > 0.5)[0].max()
    under = render.image[min(bottom + 3, 199), 100].astype(int)
    assert (under < face[0, 0].astype(int) - 8).all()  # darker just below the mask
    assert (render.image[30, 100] == face[30, 100]).all()  # the forehead is untouched


@pytest.mark.parametrize("sigma", [0.0, 4.0, 10.0])
def test_the_mask_is_never_cleaner_than_the_photo(sigma):
    from pipeline.masks.render import noise_level

    face = _skin(sigma)
    measured = noise_level(face, np.zeros((200, 200), np.float32))
    assert abs(measured - 0.8 * sigma) <= 0.25 * sigma + 0.3  # the fine residual keeps ~0.8 of it
    points = level_face()
    render = render_mask(face, points, "n95", "light_blue", rng=np.random.default_rng(0))
    inside = np.zeros((200, 200), np.float32)
    inside[(render.alpha > 0.99)] = 1
    # the mask's own fine noise, measured the same way over its inside only
    mask_noise = noise_level(render.image, 1 - inside)
    assert mask_noise >= 0.8 * measured, (mask_noise, measured)
    assert mask_noise <= measured + 6.0  # and not far noisier: the fabric grain stays fine


def test_random_colour_draws_a_new_colour_per_mask_and_the_same_one_again():
    """`colors: {random: w}`: each mask's colour comes from its own rng, so masks differ from
    one another but a job renders the same colour every run; named colours draw nothing."""
    face, points = _skin(0), level_face()

    def colour(color: str, seed: int) -> np.ndarray:
        render = render_mask(face, points, "surgical", color, rng=np.random.default_rng(seed))
        return np.median(render.image[render.alpha > 0.99].astype(float), axis=0)

    drawn = np.array([colour("random", seed) for seed in range(12)])
    assert np.ptp(drawn, axis=0).min() > 60  # spread over every channel
    assert np.array_equal(colour("random", 3), drawn[3])
    # a named colour leaves the rng to the kind's own draws: white is white whatever the seed
    assert np.ptp([colour("white", seed) for seed in range(4)], axis=0).max() < 12
    from pipeline.config import parse

    assert parse(SynthesizeConfig, {"colors": {"random": 1.0}}, "s").colors == {"random": 1.0}
