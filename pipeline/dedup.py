"""Dedup: exact and near duplicates, in clusters, right on face data.

A duplicate that survives into both train and test inflates accuracy; a distinct face thrown
away is lost data. On aligned face crops one perceptual hash cannot serve both: different
people in the same pose land within a few bits of each other, while a copy cropped by 5% a
side lands 10-20 bits from its original. So near duplicates are found in two steps:

1. Candidates. A uniform frame (border, letterbox) is trimmed first: it dominates every hash
   and would make strangers in one frame look alike. Each face then gets pHashes of its
   views: the whole face, its centre 90/80/70%, four 95% corner crops, its mirror image,
   the picture inside low-detail edges (a blurred frame), and four small rotations of its
   centre 80%. A copy cropped, shifted, framed, turned or flipped a little matches one view
   of its original within `candidate_distance` bits. The search is multi-index hashing
   (pipeline/hamming.py), not all pairs.
2. Verification. For each candidate pair, the best normalised cross-correlation between a
   32x32 grey thumbnail of one face's views and the other face (whole, or centre 80% for a
   rotation). An edited copy of one photo correlates above `verify_ncc` and, once brightness
   is matched, is the same pixel for pixel above the nose bridge (within a pixel and a few
   grey levels); another person in a similar pose may correlate as well when faces are
   aligned, but differs there in hair, eyes and background. Pairs already joined through
   other copies are not verified again, so a cluster of k copies costs about k checks. The
   views live in a memory-mapped temporary file (Prints), not in RAM.

A pair whose rows above the nose bridge are the same picture while at least `overlay_change`
of the lower face changed is an overlay: one photo with a mask drawn on it (or cut out of
it). Both are valid samples, usually of two labels, so neither is dropped nor called a label
conflict; they share a split group and name each other in `overlay_of`.

Exact duplicates (same decoded pixels) need no verification. Clusters keep one
representative (real over synthetic, then more pixels, then sharper, then id); clusters whose
members disagree on the label are all held out as `label_conflict`. The groups of all
members merge into the representative's, and so do the groups of faces within
`group_distance` bits even when verification kept both, so the split cannot separate them.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import DisjointSet
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.config import setting
from pipeline.groups import merge_groups
from pipeline.hamming import hash_codes, multi_index_pairs, near_pairs, unique_pairs
from pipeline.images import dct_hashes
from pipeline.manifest import check_conservation, reject_rows
from pipeline.parallel import parallel_map

STAGE = "dedup"
# view name -> (left, top, right, bottom) as fractions of the face (after its frame is trimmed)
VIEWS = {
    "whole": (0.0, 0.0, 1.0, 1.0),
    "centre90": (0.05, 0.05, 0.95, 0.95),
    "top_left95": (0.0, 0.0, 0.95, 0.95),
    "top_right95": (0.05, 0.0, 1.0, 0.95),
    "bottom_left95": (0.0, 0.05, 0.95, 1.0),
    "bottom_right95": (0.05, 0.05, 1.0, 1.0),
    "centre80": (0.1, 0.1, 0.9, 0.9),
    "centre70": (0.15, 0.15, 0.85, 0.85),
    "top_left90": (0.0, 0.0, 0.9, 0.9),
    "top_right90": (0.1, 0.0, 1.0, 0.9),
    "bottom_left90": (0.0, 0.1, 0.9, 1.0),
    "bottom_right90": (0.1, 0.1, 1.0, 1.0),
}
# Rotated views are cut from the centre 80% of the rotated face, so the corners a rotation
# leaves empty (black, or however the copy filled them) never enter the comparison; they are
# compared with the other face's centre 80%.
ROTATIONS = (-5.0, -2.5, 2.5, 5.0)
CENTRE = list(VIEWS).index("centre80")
# The other face's view each view is compared with: crops and the mirror with its whole face.
# Views: VIEWS, the mirror, `unframed`, then ROTATIONS.
BASE = np.array([0] * (len(VIEWS) + 2) + [CENTRE] * len(ROTATIONS))
SHIFT = 128.0  # grey levels minus this are small integers about 0: see _matches
THUMB = 64  # side of the grey thumbnail every view is cut from, and frames are found on
NCC_SIDE = 32
# Rows of a view above a mask and below the nose bridge: a mask drawn on (or cut out of) a
# photo changes the LOWER rows and leaves the UPPER ones, so the two are compared apart.
UPPER = round(0.3 * NCC_SIDE)
LOWER = round(0.5 * NCC_SIDE)
CHANGED_LEVELS = 12  # grey levels: what JPEG, blur and resizing do not reach and a mask does
# A mask changes the lower face only; a copy compared slightly out of line changes texture
# everywhere. An overlay's lower face changes in at least LOCAL times the share of its upper.
LOCAL = 2.0
# A copy is the same picture above the nose, pixel for pixel within that tolerance; another
# person in the same pose correlates as well at times (aligned faces) but differs in at least
# this share of those pixels (benchmarks/dedup.py: 99.9% of copies under it, look-alike
# strangers from 0.09).
COPY_UPPER_CHANGE = 0.08
# Two labels on one picture are a label conflict only when the lower face is the same; a
# change in this share of it makes it an overlay (JPEG, blur and resizing stay under 0.01).
CONFLICT_CHANGE = 0.03
# Frames. A uniform border (rows or columns at the edge whose grey levels span at most
# FRAME_RANGE) is trimmed before fingerprinting, at most FRAME_MAX a side. A blurred border
# cannot be told from a plain background that way, so the face also gets an `unframed` view:
# the picture inside its edge rows of under FRAME_DETAIL of the face's median detail.
FRAME_RANGE = 12.0
FRAME_DETAIL = 0.2
FRAME_MAX = 0.2


@dataclass(frozen=True)
class DedupConfig:
    candidate_distance: int = setting(8, ge=0, le=16)
    verify_ncc: float = setting(0.92, gt=0, le=1)
    # a pair whose upper face correlates >= verify_ncc and whose lower face changed in at least
    # this share of its pixels is one photo with a mask drawn or removed: both kept, one group
    overlay_change: float = setting(0.1, gt=0, le=1)
    group_distance: int = setting(4, ge=0, le=16)
    workers: int = setting(2, ge=1)

    def __post_init__(self) -> None:
        if self.group_distance > self.candidate_distance:
            raise ValueError("group_distance must be <= candidate_distance")


@dataclass
class Fingerprint:
    codes: np.ndarray  # uint64 pHash of each view (BASE's order), then of the whole face's UPPER rows
    views: np.ndarray  # those views, 32x32 grey each: verification correlates them
    sharpness: float
    # (whole, upper) x (mean, 1 / centred length) of each view, float32: computed once here,
    # in the workers, instead of once per pair in the serial verification
    moments: np.ndarray


def _area_matrix(start: float, stop: float) -> np.ndarray:
    """The NCC_SIDE x THUMB matrix that cuts [start, stop) of a THUMB-long axis and resizes
    it by pixel-area averaging (OpenCV's INTER_AREA weights, read off an identity matrix)."""
    lo, hi = round(start * THUMB), round(stop * THUMB)
    weights = cv2.resize(np.eye(hi - lo, dtype=np.float32), (hi - lo, NCC_SIDE), interpolation=cv2.INTER_AREA)
    out = np.zeros((NCC_SIDE, THUMB), dtype=np.float32)
    out[:, lo:hi] = weights
    return out


# Every view (and the mirror, last) is rows @ thumb @ cols: two batched matrix products per
# face instead of a crop and resize each.
_ROWS = np.stack([_area_matrix(top, bottom) for _, top, _, bottom in VIEWS.values()] + [_area_matrix(0, 1)])
_COLS = np.stack(
    [_area_matrix(left, right).T for left, _, right, _ in VIEWS.values()] + [_area_matrix(0, 1)[:, ::-1].T]
)


def _turn(angle: float) -> np.ndarray:
    """The affine map from the thumbnail to its centre 80%, turned by `angle` degrees and
    resized to NCC_SIDE pixels: one warp per rotated view."""
    left, _, right, _ = VIEWS["centre80"]
    matrix = np.asarray(
        cv2.getRotationMatrix2D(
            ((THUMB - 1) / 2, (THUMB - 1) / 2), angle, NCC_SIDE / ((right - left) * THUMB)
        ),
        dtype=np.float64,
    )
    matrix[:, 2] += (NCC_SIDE - THUMB) / 2
    return matrix


_TURNS = [_turn(angle) for angle in ROTATIONS]


def _edges(flat: np.ndarray) -> tuple[int, int]:
    """How many leading and trailing entries of a profile are flat, at most FRAME_MAX of it."""
    limit = round(FRAME_MAX * len(flat))
    lead = limit if flat[:limit].all() else int(np.argmin(flat[:limit]))
    tail = limit if flat[-limit:].all() else int(np.argmin(flat[::-1][:limit]))
    return lead, tail


def _box(small: np.ndarray, shape: tuple[int, ...], rows: np.ndarray, cols: np.ndarray) -> tuple[int, ...]:
    """(top, bottom, left, right) in pixels of an image of `shape`, inside the flat edge rows
    and columns of its thumbnail `small`."""
    (top, bottom), (left, right) = _edges(rows), _edges(cols)
    scale_y, scale_x = shape[0] / len(small), shape[1] / len(small)
    return _even(
        round(top * scale_y),
        shape[0] - round(bottom * scale_y),
        round(left * scale_x),
        shape[1] - round(right * scale_x),
        shape,
    )


def _span(lines: np.ndarray) -> np.ndarray:
    """The range of grey levels along each row of `lines`."""
    return lines.max(axis=1).astype(np.float32) - lines.min(axis=1)


def content_box(grey: np.ndarray, thumb: np.ndarray | None = None) -> tuple[int, ...]:
    """(top, bottom, left, right) of the picture inside a uniform frame. A border dominates
    both the pHash and the thumbnail: two strangers in the same black frame look alike, and a
    framed copy unlike its original. The frame is found on the THUMB-pixel `thumb` (made here
    if not given), then its inner edge pixel by pixel, so no sliver of it is left to hide a
    flat region of the photo within."""
    small = (_thumb(grey) if thumb is None else thumb).astype(np.float32)
    top, bottom, left, right = _box(
        small, grey.shape, _span(small) <= FRAME_RANGE, _span(small.T) <= FRAME_RANGE
    )

    def flat(line: np.ndarray) -> bool:
        return bool(_span(line[None])[0] <= FRAME_RANGE)

    limit_y, limit_x = round(FRAME_MAX * grey.shape[0]), round(FRAME_MAX * grey.shape[1])
    while 0 < top < limit_y and flat(grey[top]):
        top += 1
    while bottom < grey.shape[0] and grey.shape[0] - bottom < limit_y and flat(grey[bottom - 1]):
        bottom -= 1
    while 0 < left < limit_x and flat(grey[:, left]):
        left += 1
    while right < grey.shape[1] and grey.shape[1] - right < limit_x and flat(grey[:, right - 1]):
        right -= 1
    return _even(top, bottom, left, right, grey.shape)


def _even(top: int, bottom: int, left: int, right: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The box with each pair of opposite sides trimmed by the thinner of the two. A frame an
    edit adds is even (a border, letter- or pillarbox); a flat strip on one side only is the
    photo's own background, and trimming it would turn a later crop into an uneven one."""
    y = min(top, shape[0] - bottom)
    x = min(left, shape[1] - right)
    return y, shape[0] - y, x, shape[1] - x


def detail_box(thumb: np.ndarray) -> tuple[int, ...]:
    """(top, bottom, left, right) of a thumbnail inside edge rows (columns) with almost no
    horizontal (vertical) detail next to the face's own: where a blurred frame would be."""
    small = thumb.astype(np.float32)
    rows = np.abs(np.diff(small, axis=1)).mean(axis=1)
    cols = np.abs(np.diff(small, axis=0)).mean(axis=0)
    inner = slice(round(FRAME_MAX * len(small)), -round(FRAME_MAX * len(small)))
    flat_rows = rows < FRAME_DETAIL * _median(rows[inner])
    return _box(small, small.shape, flat_rows, cols < FRAME_DETAIL * _median(cols[inner]))


def _median(values: np.ndarray) -> float:
    """np.median of a short 1-D array, without its overhead (a tenth of a face's fingerprint)."""
    ordered = np.sort(values)
    return float(ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


def _thumb(grey: np.ndarray) -> np.ndarray:
    interpolation = cv2.INTER_AREA if min(grey.shape) >= THUMB else cv2.INTER_CUBIC
    return cv2.resize(grey, (THUMB, THUMB), interpolation=interpolation)


def fingerprint(path: str) -> Fingerprint | tuple[str, str]:
    """Everything dedup needs of one face, or (reason, detail) when it cannot be read. All of
    it comes from one THUMB-pixel grey thumbnail of the face inside its frame, so the cost is
    the decode, not the face size. The faces are the PNGs ingest and synthesize wrote, after
    ingest's checks on hostile input, so OpenCV's decoder (twice as fast here as Pillow's)
    reads them straight to grey."""
    if not Path(path).is_file():
        return "unreadable", f"no file at {path}"
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        return "decode_error", "OpenCV cannot decode this face image"
    thumb = _thumb(grey)
    if min(grey.shape) >= 8:
        box = content_box(grey, thumb)
        if box != (0, grey.shape[0], 0, grey.shape[1]):
            grey = grey[box[0] : box[1], box[2] : box[3]]
            thumb = _thumb(grey)
    # Laplacian energy relative to contrast: only a tie-break between copies of one size,
    # since edits move it a few percent either way
    flat = thumb.astype(np.float64)
    sharpness = cv2.Laplacian(flat, cv2.CV_64F).var() / (flat.var() + 1.0)
    square = thumb.astype(np.float32)
    turned = np.stack(
        [cv2.warpAffine(square, m, (NCC_SIDE, NCC_SIDE), borderMode=cv2.BORDER_REFLECT_101) for m in _TURNS]
    )
    top, bottom, left, right = detail_box(thumb)
    unframed = cv2.resize(thumb[top:bottom, left:right], (NCC_SIDE, NCC_SIDE), interpolation=cv2.INTER_AREA)
    views = np.concatenate([_ROWS @ square @ _COLS, unframed[None].astype(np.float32), turned])
    views = np.rint(views).clip(0, 255).astype(np.uint8)
    upper = cv2.resize(views[0, :UPPER], (NCC_SIDE, NCC_SIDE), interpolation=cv2.INTER_LINEAR)
    codes = dct_hashes(np.concatenate([views, upper[None]]))
    moments = np.stack([_moments(views), _moments(views[:, :UPPER])])
    return Fingerprint(codes=codes, views=views, sharpness=float(sharpness), moments=moments)


def _moments(views: np.ndarray) -> np.ndarray:
    """(mean, 1 / length once centred) of each of a stack of views."""
    v = views.reshape(len(views), -1).astype(np.float32)
    mean = v.mean(axis=1)
    v -= mean[:, None]
    return np.stack([mean, 1 / (np.sqrt(np.einsum("vd,vd->v", v, v)) + 1e-6)])


@dataclass(frozen=True)
class Match:
    """How alike two faces are: `whole`, the best correlation of one face's views (mirror,
    rotations) with the other face; `upper`, the best correlation of the rows above the nose
    bridge; `changed`, where those match best, the share of the rows below it whose grey level
    differs by more than CHANGED_LEVELS once the brightness is matched on the upper rows."""

    whole: float
    upper: float
    changed: float
    upper_changed: float = 0.0

    def is_overlay(self, config: DedupConfig, same_label: bool = True) -> bool:
        """One photo, the lower face changed: a mask drawn on it or cut out of it. Between two
        labels, a smaller change is enough: that the labels differ is evidence already."""
        return (
            self.upper >= config.verify_ncc
            and self.upper_changed <= COPY_UPPER_CHANGE
            and self.changed >= LOCAL * self.upper_changed
            and self.changed >= (config.overlay_change if same_label else CONFLICT_CHANGE)
        )

    def is_copy(self, config: DedupConfig) -> bool:
        """The same picture: it correlates, and above the nose it is the same pixel for pixel."""
        return self.whole >= config.verify_ncc and self.upper_changed <= COPY_UPPER_CHANGE


def _neighbourhood(images: np.ndarray, op: np.ufunc) -> np.ndarray:
    """`op` (minimum, maximum) over each pixel's 3x3 neighbourhood of a stack of images,
    edges repeated: two separable passes of shifted slices."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = op(op(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    return op(op(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


def _changed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For pairs of aligned views (pairs, 32, 32): the share of pixels of y further than
    CHANGED_LEVELS from every pixel of x's 3x3 neighbourhood, below the nose bridge and above
    it, after a gain and offset fitted on the upper rows. The neighbourhood absorbs the pixel
    of misalignment between a copy's view and its original's; the fit, a brightened or
    re-encoded copy. A mask drawn on the face is many levels off over a large area."""
    x, y = x.astype(np.float32), y.astype(np.float32)
    xu, yu = x[:, :UPPER].reshape(len(x), -1), y[:, :UPPER].reshape(len(y), -1)
    xc = xu - xu.mean(axis=1, keepdims=True)
    gain = (xc * (yu - yu.mean(axis=1, keepdims=True))).sum(axis=1) / ((xc * xc).sum(axis=1) + 1e-6)
    offset = yu.mean(axis=1) - gain * xu.mean(axis=1)
    fitted = gain[:, None, None] * x + offset[:, None, None]
    low, high = _neighbourhood(fitted, np.minimum), _neighbourhood(fitted, np.maximum)
    # a brightened copy clips its highlights, which no gain undoes: white is no evidence
    changed = ((y < low - CHANGED_LEVELS) | (y > high + CHANGED_LEVELS)) & (np.maximum(y, fitted) < 250)
    return np.stack([changed[:, LOWER:].mean(axis=(1, 2)), changed[:, :UPPER].mean(axis=(1, 2))], axis=1)


_CROPS = np.nonzero(BASE == 0)[0]
_TURNED = np.nonzero(BASE == CENTRE)[0]


@dataclass(frozen=True)
class Prints:
    """Every face's fingerprint, as arrays indexed like the manifest's rows. The views are
    18 KB a face (1.8 GB at 100,000 faces), so they go to a memory-mapped file as the workers
    return them: verification reads the few thousand faces of a chunk at a time, and the
    process's own memory does not grow with the dataset."""

    codes: np.ndarray  # (faces, views + 1) uint64
    views: np.ndarray  # (faces, views, NCC_SIDE, NCC_SIDE) uint8, memory-mapped
    moments: np.ndarray  # (faces, 2, 2, views) float32
    sharpness: np.ndarray  # (faces,) float64; 0 where unreadable
    unreadable: dict[int, tuple[str, str]]  # row -> (reason, detail)

    @classmethod
    def of(cls, paths: list[str], workers: int, folder: Path) -> Prints:
        n, v = len(paths), len(BASE)
        views = np.lib.format.open_memmap(folder / "views.npy", "w+", np.uint8, (n, v, NCC_SIDE, NCC_SIDE))
        codes = np.zeros((n, v + 1), np.uint64)
        moments = np.zeros((n, 2, 2, v), np.float32)
        sharpness = np.zeros(n)
        unreadable = {}
        found = parallel_map(fingerprint, paths, workers=workers, chunksize=32, desc="dedup")
        for i, print_ in enumerate(found):
            if isinstance(print_, Fingerprint):
                codes[i], views[i], moments[i] = print_.codes, print_.views, print_.moments
                sharpness[i] = print_.sharpness
            else:
                unreadable[i] = print_
        return cls(codes, views, moments, sharpness, unreadable)


def _matches(
    views: np.ndarray, moments: np.ndarray, a: np.ndarray, b: np.ndarray, bound: float = -1.0
) -> np.ndarray:
    """(pairs, 4): Match fields of the pairs of faces (a[k], b[k]) of `views` and their
    `moments` (Prints' layout), both ways round; the changes only where a correlation
    reaches `bound`."""
    mean, scale = moments[:, :, 0] - SHIFT, moments[:, :, 1]
    # The NCC of two views from their raw dot product and _moments, so each pair reads one
    # copy of its views for both correlations. Shifted to about 0, grey levels are small
    # integers whose products sum exactly in float32.
    flat = views.reshape(len(views) * len(BASE), -1).astype(np.float32)
    flat -= SHIFT
    sizes = (flat.shape[1], UPPER * NCC_SIDE)  # the whole view, its UPPER rows

    def against_base(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(whole / upper, pairs, V): each view of x against the view of y it is compared with."""
        out = np.empty((2, len(x), len(BASE)), dtype=np.float32)
        for views_of_x, base in ((_CROPS, 0), (_TURNED, CENTRE)):
            this = flat[(x[:, None] * len(BASE) + views_of_x).ravel()].reshape(len(x), len(views_of_x), -1)
            that = flat[y * len(BASE) + base]
            for k, size in enumerate(sizes):
                dots = np.einsum("pvd,pd->pv", this[..., :size], that[:, :size])
                mx, my = mean[x[:, None], k, views_of_x], mean[y, k, base][:, None]
                sx, sy = scale[x[:, None], k, views_of_x], scale[y, k, base][:, None]
                out[k][:, views_of_x] = (dots - size * mx * my) * sx * sy
        return out

    def one_way(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        whole, up = against_base(x, y)
        at = up.argmax(axis=1)
        out = np.column_stack([whole.max(axis=1), up[np.arange(len(at)), at], np.ones((len(x), 2))])
        # where neither correlation reaches `bound` no decision reads the changes: they stay 1
        need = np.nonzero(out[:, :2].max(axis=1) >= bound)[0]
        if not len(need):
            return out
        # either way round: a patterned mask's own 3x3 range can hide the bare skin under it
        this, that = views[x[need], at[need]], views[y[need], BASE[at[need]]]
        out[need, 2:] = np.maximum(_changed(this, that), _changed(that, this))
        return out

    one, other = one_way(a, b), one_way(b, a)
    out = np.where((one[:, 1] >= other[:, 1])[:, None], one, other)
    out[:, 0] = np.maximum(one[:, 0], other[:, 0])
    return out


def similarity(a: Fingerprint, b: Fingerprint) -> Match:
    """How alike two faces are."""
    views, moments = np.stack([a.views, b.views]), np.stack([a.moments, b.moments])
    return Match(*map(float, _matches(views, moments, np.array([0]), np.array([1]))[0]))


def _compare(
    prints: Prints, pairs: np.ndarray, bound: float, workers: int = 1, chunk: int = 256
) -> list[Match]:
    """similarity() of many pairs, vectorised in chunks of pairs on `workers` threads (the
    work is numpy's, which releases the GIL); each face in a chunk is normalised once,
    however many pairs it is in. A chunk's float views take about 60 MB: 1,024 pairs a
    chunk took 250 MB a thread."""

    def scores(part: np.ndarray) -> np.ndarray:
        faces, local = np.unique(part, return_inverse=True)
        a, b = local.reshape(-1, 2).T
        return _matches(prints.views[faces], prints.moments[faces], a, b, bound)

    parts = [pairs[start : start + chunk] for start in range(0, len(pairs), chunk)]
    with ThreadPoolExecutor(max_workers=min(workers, max(len(parts), 1))) as pool:
        return [Match(*map(float, row)) for rows in pool.map(scores, parts) for row in rows]


def candidate_pairs(codes: np.ndarray, max_distance: int, workers: int = 1) -> np.ndarray:
    """Pairs (i < j) where a view of one face is within max_distance bits of the view of the
    other it is compared with (BASE), or whose upper bands are that close (overlays)."""
    found = []
    for base in np.unique(BASE):
        views = np.flatnonzero(np.equal(BASE, base))
        hits = multi_index_pairs(codes[:, views].reshape(-1), codes[:, base], max_distance, workers)
        found.append(np.stack([hits[:, 0] // len(views), hits[:, 1]], axis=1))
    found.append(multi_index_pairs(codes[:, -1], codes[:, -1], max_distance, workers))
    return unique_pairs(np.concatenate(found))


def _unjoined_batches(pairs: np.ndarray, joined: list[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The pairs to verify, in batches of at most one pair per face (its first candidate not
    yet joined to it), each batch after the caller has added the pairs it joined to `joined`
    (arrays of pairs).
    A pair already joined through other copies is never verified, which leaves the clusters
    as they would be: a cluster of k copies costs about k verifications instead of k^2 / 2."""
    while len(pairs):
        if joined:
            edges = np.concatenate(joined)
            graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
            root = connected_components(graph, directed=False)[1]
            pairs = pairs[root[pairs[:, 0]] != root[pairs[:, 1]]]
        if not len(pairs):
            return
        _, first = np.unique(pairs[:, 1], return_index=True)  # pairs are sorted by (i, j)
        batch = np.zeros(len(pairs), dtype=bool)
        batch[first] = True
        yield pairs[batch]
        pairs = pairs[~batch]


def _representative_order(df: pd.DataFrame, sharpness: np.ndarray) -> pd.Series:
    """Rank for keeping one member: real over synthetic, more pixels, sharper, then id."""
    frame = pd.DataFrame(
        {
            "synthetic": df["synthetic"].fillna(False).astype(bool),
            "pixels": -(df["width"].fillna(0) * df["height"].fillna(0)),
            "sharpness": -sharpness,
            "id": df["id"],
        }
    )
    return frame.sort_values(["synthetic", "pixels", "sharpness", "id"]).index.to_series()


def _overlay_partners(
    overlays: list[tuple[int, int]], clusters: DisjointSet, kept: set[int], ids: np.ndarray
) -> pd.Series:
    """For each kept face, the kept faces that are its photo with the lower face changed:
    a pair found through copies is named by the copies' representatives."""
    rep = {}
    for members in clusters.subsets():
        held = [k for k in members if k in kept]
        for k in members:
            rep[k] = held[0] if held else None
    partners: dict[int, set[str]] = {k: set() for k in kept}
    for i, j in overlays:
        a, b = rep[i], rep[j]
        if a is not None and b is not None and a != b:
            partners[a].add(ids[b])
            partners[b].add(ids[a])
    return pd.Series({k: sorted(v) if v else None for k, v in partners.items()}, dtype=object)


def _clusters(
    df: pd.DataFrame, prints: Prints, config: DedupConfig
) -> tuple[DisjointSet, dict[tuple[int, int], float], list[tuple[int, int]]]:
    """(the readable rows joined into clusters of copies, the correlation that joined each
    verified pair, the overlay pairs)."""
    ok = [i for i in range(len(df)) if i not in prints.unreadable]
    sets = DisjointSet(ok)
    evidence: dict[tuple[int, int], float] = {}
    overlays: list[tuple[int, int]] = []
    for _, idx in df.loc[ok].groupby("sha256").groups.items():
        for k in idx[1:]:
            sets.merge(idx[0], k)
    if len(ok) < 2:
        return sets, evidence, overlays
    pairs = candidate_pairs(prints.codes[ok], config.candidate_distance, config.workers)
    candidates = np.asarray(ok)[pairs]
    same_label = df["label"].to_numpy()
    exact = [(min(members), k) for members in sets.subsets() for k in members if k != min(members)]
    joined = [np.array(exact, dtype=np.int64).reshape(-1, 2)]
    for batch in _unjoined_batches(candidates, joined, len(df)):
        copies = []
        matches = _compare(prints, batch, config.verify_ncc, config.workers)
        for (i, j), match in zip(batch, matches, strict=True):
            if match.is_overlay(config, same_label=same_label[i] == same_label[j]):
                overlays.append((i, j))
            elif match.is_copy(config):
                sets.merge(i, j)
                copies.append((i, j))
                evidence[(i, j)] = evidence[(j, i)] = match.whole
        joined.append(np.array(copies, dtype=np.int64).reshape(-1, 2))
    return sets, evidence, overlays


def dedup(df: pd.DataFrame, config: DedupConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected): one representative per duplicate cluster; clusters whose members
    disagree on the label are rejected whole as `label_conflict`."""
    df = df.reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="maskset-dedup-") as tmp:
        prints = Prints.of(list(df["path"]), config.workers, Path(tmp))
        sets, evidence, overlays = _clusters(df, prints, config)
    unreadable = prints.unreadable
    rejected = [(i, reason, detail, None) for i, (reason, detail) in unreadable.items()]
    ok = [i for i in range(len(df)) if i not in unreadable]
    # the split's leakage check counts pairs this close in the manifest's own pHashes
    both = df.loc[ok]
    close = near_pairs(hash_codes(both["phash"]), config.group_distance, hash_codes(both["phash_mirror"]))
    group_pairs = [(ok[a], ok[b]) for a, b in close]

    order = _representative_order(df, prints.sharpness)
    rank = np.empty(len(df), dtype=np.int64)
    rank[order.to_numpy()] = np.arange(len(order))
    ids, labels, sha = df["id"].to_numpy(), df["label"].to_numpy(), df["sha256"].to_numpy()
    kept_idx = []
    for members in sets.subsets():
        members = sorted(members, key=lambda k: rank[k])
        found = sorted(set(labels[members]))
        rep = members[0]
        if len(found) > 1:
            for k in members:
                others = ",".join(ids[m] for m in members if m != k)
                conflict = f"labels={','.join(found)} with={others}"
                rejected.append((k, "label_conflict", conflict, None))
            continue
        kept_idx.append(rep)
        for k in members[1:]:
            if sha[k] == sha[rep]:
                rejected.append((k, "exact_duplicate", "identical pixels", ids[rep]))
                continue
            # the correlation with the kept face, or joined through another member of the cluster
            detail = f"ncc={evidence[(rep, k)]:.3f}" if (rep, k) in evidence else "via another copy"
            rejected.append((k, "near_duplicate", detail, ids[rep]))

    kept = df.loc[sorted(kept_idx)].copy()
    kept["overlay_of"] = _overlay_partners(overlays, sets, set(kept_idx), ids)[kept.index]
    # one split group for every cluster, for every overlay pair, and for faces too close for
    # the split to part them
    for i, j in group_pairs + overlays:
        sets.merge(i, j)
    first = {i: min(members) for members in sets.subsets() for i in members}
    linked = pd.Series(first, dtype=object).reindex(df.index)
    kept["group"] = merge_groups(df["group"], linked)[kept.index]
    index, reasons, details, kept_for = zip(*rejected, strict=True) if rejected else ((), (), (), ())
    rejected_df = reject_rows(df.loc[list(index)], STAGE, reasons, details, kept_for)
    check_conservation(STAGE, df["id"], kept["id"], rejected_df["id"])
    return kept.reset_index(drop=True), rejected_df


def dedup_report(kept: pd.DataFrame, rejected: pd.DataFrame, config: DedupConfig) -> dict:
    """What dedup found beyond the counts, read back from its rejection rows: how big the
    clusters are, which span sources (a sign two sources share photos), and every label
    conflict in full, so a reviewer can settle it with a correction."""
    dup = rejected[rejected["reason"].isin(["exact_duplicate", "near_duplicate"])]
    rep = dup["duplicate_of"]
    source_of = dict(zip(kept["id"], kept["source"], strict=True))
    clusters = [
        {"kept": r, "size": len(g) + 1, "sources": sorted({source_of[r], *g["source"]})}
        for r, g in dup.groupby(rep, sort=True)
    ]
    clusters.sort(key=lambda c: (-c["size"], c["kept"]))
    overlay = kept.dropna(subset=["overlay_of"]).explode("overlay_of")
    overlay = overlay[overlay["id"] < overlay["overlay_of"]]
    label_of = dict(zip(kept["id"], kept["label"], strict=True))
    conflict = rejected[rejected["reason"] == "label_conflict"].set_index("id")
    conflict_sets = {
        frozenset([i, *detail.split("with=", 1)[1].split(",")]) for i, detail in conflict["detail"].items()
    }
    return {
        "params": asdict(config),
        "clusters": len(clusters),
        "faces_in_clusters": sum(c["size"] for c in clusters),
        "cluster_sizes": {str(k): v for k, v in sorted(Counter(c["size"] for c in clusters).items())},
        "cross_source_clusters": [c for c in clusters if len(c["sources"]) > 1],
        "largest_clusters": clusters[:10],
        # one photo with and without a mask drawn on it: both kept, in one split group
        "overlay_pairs": len(overlay),
        "overlays": [
            {"ids": [a, b], "labels": [label_of[a], label_of[b]]}
            for a, b in sorted(zip(overlay["id"], overlay["overlay_of"], strict=True))
        ],
        "label_conflicts": [
            [{"id": i, **conflict.loc[i, ["label", "source", "path"]].to_dict()} for i in sorted(members)]
            for members in sorted(conflict_sets, key=sorted)
        ],
    }
