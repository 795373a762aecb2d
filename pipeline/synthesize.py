"""Synthesize: masked copies of selected unmasked faces, drawn from their landmarks.

Every selected face ends as a new `mask` row or a rejection saying why it could not be
masked (no landmarks, QA failure): MaskTheFace skips such faces without a word, and those
silent failures fell unevenly across demographic groups. The parent stays in the manifest,
and the child shares its group so the two never land in different splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.images import ImageRejected, content_hashes, load_rgb, save_png
from pipeline.landmarks import points_of
from pipeline.manifest import Label, check_conservation, new_manifest, new_rejected, stable_id
from pipeline.masks.render import COLORS, KINDS, coverage, render_mask
from pipeline.parallel import parallel_map

STAGE = "synthesize"


@dataclass(frozen=True)
class SynthesizeConfig:
    sources: tuple[str, ...] = ("demo",)
    fraction: float = 0.5
    mask_types: tuple[str, ...] = ("surgical",)
    colors: tuple[str, ...] = ("light_blue", "white", "black", "pink")
    min_coverage: float = 0.95
    seed: int = 7
    workers: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        for name, chosen, known in (
            ("mask_types", self.mask_types, KINDS),
            ("colors", self.colors, COLORS),
        ):
            unknown = set(chosen) - set(known)
            if unknown or not chosen:
                raise ValueError(f"{name}: unknown {sorted(unknown)}; known: {sorted(known)}")


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


@dataclass(frozen=True)
class Job:
    parent: dict
    child_id: str
    kind: str
    color: str


def plan(df: pd.DataFrame, config: SynthesizeConfig) -> list[Job]:
    jobs = []
    for _, row in selected(df, config).iterrows():
        rng = _rng(config.seed, row["id"])
        rng.random()  # the draw `selected` used
        kind = str(rng.choice(config.mask_types))
        color = str(rng.choice(config.colors))
        child = stable_id(STAGE, row["id"], kind, color, "correct", config.seed)
        jobs.append(Job(row.to_dict(), child, kind, color))
    return jobs


def run_job(job: Job, *, config: SynthesizeConfig, faces_dir: Path, relative_to: Path) -> dict:
    """A manifest row for the masked face, or a rejection row (key `reason`)."""
    parent = job.parent
    rejection = {
        "id": job.child_id,
        "stage": STAGE,
        "source": parent["source"],
        "origin": parent["origin"],
        "label": Label.MASK.value,
    }
    points = points_of(pd.Series(parent))
    if points is None:
        return rejection | {
            "reason": "no_landmarks",
            "detail": f"parent={parent['id']} {parent['landmark_error']}",
        }
    try:
        face = load_rgb(parent["path"])
    except ImageRejected as exc:
        return rejection | {"reason": exc.reason, "detail": f"parent={parent['id']} {exc.detail}"}
    render = render_mask(face, points, job.kind, job.color)
    share, checked = coverage(render.alpha, points)
    if share < config.min_coverage:
        return rejection | {
            "reason": "qa_coverage",
            "detail": f"parent={parent['id']} covered {share:.2f} of {checked} "
            f"nose/mouth/chin points < {config.min_coverage}",
        }
    path = faces_dir / f"{job.child_id}.png"
    save_png(render.image, path)
    return (
        parent
        | content_hashes(render.image)
        | {
            "id": job.child_id,
            "path": os.path.relpath(path, relative_to),
            "label": Label.MASK.value,
            "label_raw": f"synthetic:{job.kind}",
            "parent_id": parent["id"],
            "synthetic": True,
            "mask_type": job.kind,
            "mask_color": job.color,
            "mask_texture": render.texture,
            "wear": "correct",
        }
    )


def synthesize(
    df: pd.DataFrame, config: SynthesizeConfig, faces_dir: Path, relative_to: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, rejected): every input row plus one masked child per successful render."""
    jobs = plan(df, config)
    work = partial(run_job, config=config, faces_dir=faces_dir, relative_to=relative_to)
    results = list(parallel_map(work, jobs, workers=config.workers, chunksize=8, desc=STAGE))
    children = [r for r in results if "reason" not in r]
    rejected = new_rejected(r for r in results if "reason" in r)
    out = pd.concat([df, new_manifest(children)], ignore_index=True) if children else df
    check_conservation(STAGE, df["id"], out["id"], rejected["id"], created=[j.child_id for j in jobs])
    return new_manifest(out.to_dict("records")), rejected
