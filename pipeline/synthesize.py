"""Synthesize: masked copies of selected unmasked faces, placed by their landmarks.

Two methods behind one job: `render` draws a mask (pipeline/masks/render.py); `transfer`
puts on a real mask cut out of a donor source's own masked faces (masks/donors.py,
masks/transfer.py). Both are QA-checked by the same rule.

Every selected face ends as a new `mask` row or a rejection saying why it could not be
masked (no landmarks, QA failure): MaskTheFace skips such faces without a word, and those
silent failures fell unevenly across demographic groups. The parent stays in the manifest,
and the child shares its group so the two never land in different splits.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from pipeline.config import setting
from pipeline.images import ImageRejected, content_hashes, load_rgb, save_png
from pipeline.landmarks import points_of
from pipeline.manifest import (
    WEARS,
    Label,
    WearName,
    check_conservation,
    new_manifest,
    new_rejected,
    stable_id,
)
from pipeline.masks.colors import MaskColor
from pipeline.masks.donors import Donor, NotADonor, cut_mask
from pipeline.masks.geometry import qa_failure
from pipeline.masks.kinds import MaskKind
from pipeline.masks.render import Render, render_mask
from pipeline.masks.sheet import contact_sheet
from pipeline.masks.transfer import transfer_mask
from pipeline.parallel import parallel_map

STAGE = "synthesize"
K = TypeVar("K", bound=str)
Method = Literal["render", "transfer"]
TRIES = 3  # donors a transfer tries, in its drawn order, before its QA failure is final


@dataclass(frozen=True)
class SynthesizeConfig:
    sources: tuple[str, ...] = setting(("demo",), unique=True)
    fraction: float = setting(0.5, ge=0, le=1)
    # how often each kind and colour is drawn: near what real photos show (README, Synthesis)
    mask_types: dict[MaskKind, float] = setting(
        {"surgical": 0.45, "cloth": 0.25, "kn95": 0.15, "n95": 0.1, "respirator": 0.05},
        ge=0,
        nonempty=True,
        weights=True,
    )
    colors: dict[MaskColor, float] = setting(
        {
            "white": 0.35, "light_blue": 0.2, "black": 0.15, "grey": 0.1, "navy": 0.05,
            "pink": 0.05, "green": 0.04, "khaki": 0.03, "red": 0.03,
        },
        ge=0,
        nonempty=True,
        weights=True,
    )  # fmt: skip
    # how often each wear is drawn; anything but `correct` is labelled incorrect_mask
    wears: dict[WearName, float] = setting({"correct": 1.0}, ge=0, nonempty=True, weights=True)
    min_coverage: float = setting(0.95, ge=0, le=1)  # QA: share of the parts a wear covers (exposes)
    # how often each method is drawn: render (a drawn mask) | transfer (a donor's real mask)
    methods: dict[Method, float] = setting({"render": 1.0}, ge=0, nonempty=True, weights=True)
    donors: tuple[str, ...] = setting((), unique=True)  # sources whose real `mask` faces lend their masks
    donor_min_size: int = setting(32, ge=8)  # px, shorter side: smaller masked faces are too coarse to lend
    seed: int = 7
    workers: int = setting(2, ge=1)

    def __post_init__(self) -> None:
        for name in ("wears", "mask_types", "colors", "methods"):
            weights = getattr(self, name)
            if sum(weights.values()) <= 0:
                raise ValueError(f"{name}: the weights must not all be 0, got {weights}")
        if self.methods.get("transfer", 0) > 0 and not self.donors:
            raise ValueError(
                "methods: transfer needs `donors`, the sources whose masked faces lend their masks"
            )


def _rng(seed: int, row_id: str) -> np.random.Generator:
    """Seeded by (params seed, row id): a face's mask never depends on what else is in the set."""
    return np.random.default_rng(int(stable_id(seed, row_id), 16))


def selected(df: pd.DataFrame, config: SynthesizeConfig) -> pd.DataFrame:
    """The unmasked real faces of the configured sources picked for masking."""
    eligible = df[
        (df["label"] == Label.NO_MASK)
        & df["source"].isin(config.sources)
        & ~df["synthetic"].fillna(False).astype(bool)
    ]
    picked = [_rng(config.seed, i).random() < config.fraction for i in eligible["id"]]
    return eligible[np.array(picked, dtype=bool)]


def label_of(wear: str) -> str:
    return (Label.MASK if wear == "correct" else Label.INCORRECT_MASK).value


def _weighted(rng: np.random.Generator, weights: Mapping[K, float]) -> str:
    """One key drawn by its weight (keys sorted, so the order params list them in is moot)."""
    keys = sorted(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return str(rng.choice(keys, p=p / p.sum()))


@dataclass(frozen=True)
class Job:
    parent: dict
    child_id: str
    kind: str
    color: str
    wear: str
    donors: tuple[Donor, ...] = ()  # transfer: the real masks to try, in order


def donor_rows(df: pd.DataFrame, config: SynthesizeConfig) -> pd.DataFrame:
    """The real masked faces of the donor sources, large enough to lend a mask, by id."""
    rows = df[
        (df["label"] == Label.MASK)
        & df["source"].isin(config.donors)
        & ~df["synthetic"].fillna(False).astype(bool)
        & (np.minimum(df["width"], df["height"]) >= config.donor_min_size)
    ]
    return rows.sort_values("id")


def _cut(row: dict) -> Donor | tuple[str, str]:
    try:
        return cut_mask(load_rgb(row["path"]), row["id"])
    except (ImageRejected, NotADonor) as exc:
        return exc.reason, exc.detail


def cut_donors(df: pd.DataFrame, config: SynthesizeConfig) -> tuple[list[Donor], dict[str, tuple[str, str]]]:
    """(usable donors by id, {donor id: (reason, detail)} for the rest). Donors stay rows of
    their own; one that cannot lend a mask is only reported, never dropped."""
    if config.methods.get("transfer", 0) <= 0:
        return [], {}
    rows = donor_rows(df, config).to_dict("records")
    cuts = parallel_map(_cut, rows, workers=config.workers, chunksize=8, desc=f"{STAGE} donors")
    results = dict(zip([r["id"] for r in rows], cuts, strict=True))
    usable = [d for d in results.values() if isinstance(d, Donor)]
    return usable, {i: why for i, why in results.items() if isinstance(why, tuple)}


def plan(df: pd.DataFrame, config: SynthesizeConfig, pool: Sequence[Donor] = ()) -> list[Job]:
    """One job per selected face; its kind, colour, wear and method (and a transfer's donors,
    from `pool`) drawn from the face's own rng, each by its weights."""
    jobs = []
    for row in selected(df, config).to_dict("records"):
        rng = _rng(config.seed, row["id"])
        rng.random()  # the draw `selected` used
        kind = _weighted(rng, config.mask_types)
        color = _weighted(rng, config.colors)
        wear = _weighted(rng, config.wears)
        if _weighted(rng, config.methods) == "transfer":
            picks = rng.choice(len(pool), size=min(TRIES, len(pool)), replace=False) if pool else ()
            donors = tuple(pool[int(i)] for i in picks)
            child = stable_id(STAGE, row["id"], "transfer", *(d.id for d in donors), wear, config.seed)
            jobs.append(Job(row, child, "transferred", "", wear, donors))
        else:
            child = stable_id(STAGE, row["id"], kind, color, wear, config.seed)
            jobs.append(Job(row, child, kind, color, wear))
    return jobs


def _put_on(
    job: Job, face: np.ndarray, points: np.ndarray, config: SynthesizeConfig
) -> tuple[Render, tuple | None]:
    """The job's render and its QA failure (None: passed). A transfer tries its donors in
    turn and keeps the first that passes, or the last failure."""
    if job.kind != "transferred":
        render = render_mask(face, points, job.kind, job.color, job.wear, _rng(config.seed, job.child_id))
        return render, qa_failure(render.alpha, points, job.wear, config.min_coverage)
    for donor in job.donors:
        render = transfer_mask(face, points, donor, job.wear, _rng(config.seed, job.child_id))
        failure = qa_failure(render.alpha, points, job.wear, config.min_coverage)
        if failure is None:
            break
    return render, failure


def run_job(job: Job, *, config: SynthesizeConfig, faces_dir: Path, recorded_as: Path | None) -> dict:
    """A manifest row for the masked face, or a rejection row (key `reason`)."""
    parent = job.parent
    rejection = {
        "id": job.child_id,
        "stage": STAGE,
        "source": parent["source"],
        "origin": parent["origin"],
        "label": label_of(job.wear),
    }
    points = points_of(pd.Series(parent))
    if points is None:
        return rejection | {
            "reason": "no_landmarks",
            "detail": f"parent={parent['id']} {parent['landmark_error']}",
        }
    if job.kind == "transferred" and not job.donors:
        return rejection | {
            "reason": "no_donor",
            "detail": f"parent={parent['id']} none of the donor sources' masked faces could lend a mask",
        }
    try:
        face = load_rgb(parent["path"])
    except ImageRejected as exc:
        return rejection | {"reason": exc.reason, "detail": f"parent={parent['id']} {exc.detail}"}
    render, failure = _put_on(job, face, points, config)
    if failure is not None:
        reason, detail = failure
        return rejection | {"reason": reason, "detail": f"parent={parent['id']} {job.kind} {detail}"}
    name = f"{job.child_id}.png"
    save_png(render.image, faces_dir / name)
    return (
        parent
        | content_hashes(render.image)
        | {
            "id": job.child_id,
            "path": ((recorded_as or faces_dir) / name).as_posix(),
            "label": label_of(job.wear),
            "label_raw": f"synthetic:{job.kind}:{job.wear}",
            "parent_id": parent["id"],
            "donor_id": render.texture.removeprefix("donor:") if job.donors else None,
            "synthetic": True,
            "mask_type": job.kind,
            "mask_color": job.color or None,
            "mask_texture": render.texture,
            "wear": job.wear,
        }
    )


def synthesize(
    df: pd.DataFrame, config: SynthesizeConfig, faces_dir: Path, recorded_as: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, rejected): every input row plus one masked child per successful render."""
    pool, unusable = cut_donors(df, config)
    if config.methods.get("transfer", 0) > 0:
        reasons = Counter(reason for reason, _ in unusable.values())
        print(
            f"{STAGE}: {len(pool)} of {len(pool) + len(unusable)} masked faces of {list(config.donors)} lend "
            f"their masks; the rest: {dict(sorted(reasons.items()))}",
            file=sys.stderr,
        )
    jobs = plan(df, config, pool)
    work = partial(run_job, config=config, faces_dir=faces_dir, recorded_as=recorded_as)
    results = list(parallel_map(work, jobs, workers=config.workers, chunksize=8, desc=STAGE))
    children = [r for r in results if "reason" not in r]
    rejected = new_rejected(r for r in results if "reason" in r)
    out = pd.concat([df, new_manifest(children)], ignore_index=True) if children else df
    check_conservation(STAGE, df["id"], out["id"], rejected["id"], created=[j.child_id for j in jobs])
    return new_manifest(out.to_dict("records")), rejected


def sheet(df: pd.DataFrame, config: SynthesizeConfig, faces: int = 6) -> np.ndarray:
    """The contact sheet of every configured kind in every wear (pipeline/masks/sheet.py),
    on the first `faces` selected faces with landmarks, in id order; with transfer among
    the methods, a row of donors' masks too, spread over the donors by id."""
    picked = []
    for row in selected(df, config).sort_values("id").to_dict("records"):
        points = points_of(pd.Series(row))
        if points is None:
            continue
        try:
            picked.append((load_rgb(row["path"]), points))
        except ImageRejected:
            continue
        if len(picked) == faces:
            break
    pool, _ = cut_donors(df, config)
    return contact_sheet(
        picked,
        list(config.mask_types),
        list(WEARS),
        list(config.colors),
        config.seed,
        config.min_coverage,
        donors=pool[:: max(1, len(pool) // len(WEARS))][: len(WEARS)],
    )
