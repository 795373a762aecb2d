"""The manifest: one Parquet row per face sample, the contract between every stage.

Every stage reads the previous manifest and writes a new one plus `rejected.parquet`; the
schema below is the only place columns are declared, so a typo in a stage fails loudly
instead of creating a new column.
"""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.atomic import atomic_path
from pipeline.errors import InvariantError, StageOutputError


class Label(StrEnum):
    """The one label convention, from ingest to reports. Never bare 0/1 in data."""

    MASK = "mask"
    NO_MASK = "no_mask"
    INCORRECT_MASK = "incorrect_mask"


# the vocabularies as types, so configs declare their choices with them (pipeline/config.py)
LabelName = Literal["mask", "no_mask", "incorrect_mask"]
SplitName = Literal["train", "val", "test"]
# How a mask is worn, named by what it leaves exposed (MaskedFace-Net names files by what the
# mask covers: `_Mask_Mouth_Chin` is a mask over mouth and chin, so the nose is exposed).
WearName = Literal["correct", "nose_exposed", "chin_exposed", "nose_mouth_exposed"]
LABELS: tuple[str, ...] = typing.get_args(LabelName)
SPLITS: tuple[str, ...] = typing.get_args(SplitName)
WEARS: tuple[str, ...] = typing.get_args(WearName)

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("origin", pa.string()),  # file inside the source, relative to its root
        ("box", pa.list_(pa.int32(), 4)),  # x0, y0, x1, y1 of the crop in the origin, if cropped
        ("path", pa.string()),  # face image, relative to the repository root
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("sha256", pa.string()),  # of the decoded RGB pixels, not of the file bytes
        ("phash", pa.string()),  # 64-bit DCT perceptual hash, hex
        ("phash_mirror", pa.string()),  # phash of the mirror image: catches flipped copies
        ("origin_sha256", pa.string()),  # decoded pixels of the whole origin photo
        ("label", pa.string()),
        ("label_raw", pa.string()),
        ("review", pa.string()),  # a reviewer's correction (datasets/corrections.yaml), if any
        ("group", pa.string()),  # rows that must stay in one split
        ("parent_id", pa.string()),
        # synthesize's transfer: the real masked face whose mask this face wears (both in one split)
        ("donor_id", pa.string()),
        # dedup: ids of faces that are this photo with the lower face changed (a mask drawn
        # on it or cut out of it); the faces share a group
        ("overlay_of", pa.list_(pa.string())),
        ("synthetic", pa.bool_()),
        ("mask_type", pa.string()),
        ("mask_color", pa.string()),
        ("mask_texture", pa.string()),
        ("wear", pa.string()),  # one of WEARS where known (synthesis, MaskedFace-Net)
        ("landmarks", pa.list_(pa.float32())),  # 68 (x, y) pairs, flattened, in face pixels
        # where the 68 points fail but two models agree on the eyes: their centres, left x, y, right x, y
        ("eyes", pa.list_(pa.float32())),
        ("landmark_method", pa.string()),  # box (the crop's known face box) | detector | eyes
        # fit quality, in inter-ocular distances: movement on refit (box, detector), or
        # how far apart the 68-point and 5-point models put the eyes (eyes)
        ("landmark_shift", pa.float32()),
        ("landmark_error", pa.string()),
        ("skin_tone_ita", pa.float32()),
        ("skin_tone_bin", pa.string()),
        ("monk_tone", pa.int8()),
        ("skin_tone_error", pa.string()),  # why the tone is unknown
        ("skin_tone_method", pa.string()),  # landmarks | eyes | box: where its skin patches were placed
        ("gender", pa.string()),
        ("age", pa.int16()),
        ("age_band", pa.string()),  # where a source annotates ages as ranges (FairFace: 20-29)
        ("race", pa.string()),
        ("split", pa.string()),
        ("repeats", pa.int32()),  # train rows under balance: oversample: times each is drawn
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),  # a short, stable code: decode_error, duplicate, blur, ...
        ("detail", pa.string()),  # the evidence: ncc=0.97, laplacian_var=3.2, decode_error=...
        ("duplicate_of", pa.string()),  # exact / near duplicates: the id of the face kept instead
        ("source", pa.string()),
        ("origin", pa.string()),
        ("path", pa.string()),
        ("label", pa.string()),
    ]
)


def stable_id(*parts: object) -> str:
    """A content-derived id: the same inputs give the same id on every run and machine."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()
    return digest[:16]


def _conform(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    unknown = set(df.columns) - set(schema.names)
    if unknown:
        raise ValueError(f"columns not in the schema: {sorted(unknown)}")
    out = df.copy()
    for name in schema.names:
        if name not in out.columns:
            out[name] = None
    return out[list(schema.names)].reset_index(drop=True)


def _table(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    if df.empty:  # no values to convert: pandas' guessed dtypes (float64 for a list) would fail
        return schema.empty_table()
    return pa.Table.from_pandas(_conform(df, schema), schema=schema, preserve_index=False)


def new_manifest(rows: Iterable[dict] = ()) -> pd.DataFrame:
    """A manifest DataFrame with every schema column, in schema order."""
    return _table(pd.DataFrame(list(rows)), SCHEMA).to_pandas()


def new_rejected(rows: Iterable[dict] = ()) -> pd.DataFrame:
    return _table(pd.DataFrame(list(rows)), REJECTED_SCHEMA).to_pandas()


def reject_rows(
    rows: pd.DataFrame,
    stage: str,
    reasons: Iterable[str],
    details: Iterable[str],
    duplicate_of: Iterable[str | None] | None = None,
) -> pd.DataFrame:
    """Rejections of manifest rows a stage drops, one reason and detail each; the rows keep
    their id, source, origin, path and label so a rejection can be traced and browsed."""
    out = rows[["id", "source", "origin", "path", "label"]].reset_index(drop=True)
    out = out.assign(stage=stage, reason=list(reasons), detail=list(details))
    if duplicate_of is not None:
        out["duplicate_of"] = list(duplicate_of)
    return new_rejected(out.to_dict("records"))


def validate(df: pd.DataFrame) -> None:
    """Check the invariants every manifest must hold; raise with the offending ids."""
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise InvariantError(f"duplicate ids in manifest: {sorted(dup)[:5]}")
    bad = df.loc[~df["label"].isin(LABELS), ["id", "label"]]
    if len(bad):
        raise InvariantError(
            f"labels outside {LABELS}: {bad.head(5).to_dict('records')} (map raw labels at ingest)"
        )
    if df["group"].isna().any():
        raise InvariantError(f"rows without a group: {list(df.loc[df['group'].isna(), 'id'])[:5]}")
    split = df["split"].dropna()
    if not split.isin(SPLITS).all():
        raise InvariantError(f"split values outside {SPLITS}: {sorted(set(split) - set(SPLITS))}")


def write_manifest(df: pd.DataFrame, path: Path) -> None:
    """Validate and write atomically, sorted by id so identical inputs give identical files."""
    df = df.sort_values("id", kind="stable")
    validate(df)
    with atomic_path(path) as tmp:
        pq.write_table(_table(df, SCHEMA), tmp)


def write_rejected(df: pd.DataFrame, path: Path) -> None:
    df = df.sort_values(["stage", "id"], kind="stable")
    with atomic_path(path) as tmp:
        pq.write_table(_table(df, REJECTED_SCHEMA), tmp)


def _read(path: Path, schema: pa.Schema, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A stage's table, or one line naming the file and the stage that rebuilds it (the
    parent folder's name): a file cut short or replaced between stages run by hand."""
    path = Path(path)
    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    try:
        wanted = None if columns is None else [n for n in columns if n in pq.read_schema(path).names]
        df = _conform(pq.read_table(path, columns=wanted).to_pandas(), schema)
        # Arrow's allocator keeps the decoded columns' buffers for reuse; pandas holds copies
        # by now, so hand them back (at 100,000 rows, about 40 MB a read)
        pa.default_memory_pool().release_unused()
        return df
    except FileNotFoundError:
        problem = "is missing"
    except (pa.ArrowException, OSError) as exc:
        problem = f"is damaged or not a Parquet table ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    raise StageOutputError(f"{path} {problem}: rebuild it with `dvc repro {path.parent.name}`") from None


def read_manifest(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The manifest, or only `columns` of it: a stage that needs a few columns of a large
    build reads those (pandas holds each string as a Python object, and a row of all 40
    columns costs about 2.5 KB)."""
    return _read(path, SCHEMA, columns)


def read_rejected(path: Path) -> pd.DataFrame:
    return _read(path, REJECTED_SCHEMA)


def check_conservation(
    stage: str,
    inputs: Iterable[str],
    kept: Iterable[str],
    rejected: Iterable[str],
    created: Iterable[str] = (),
) -> None:
    """Invariant 1: every input id ends up kept or rejected, exactly once, and nothing else
    appears except rows the stage says it created (kept or rejected attempts)."""
    inputs, kept, rejected, created = set(inputs), list(kept), list(rejected), set(created)
    kept_set, rejected_set = set(kept), set(rejected)
    problems = []
    if len(kept) != len(kept_set) or len(rejected) != len(rejected_set):
        problems.append("an id appears twice in an output")
    both = kept_set & rejected_set
    if both:
        problems.append(f"kept and rejected at once: {sorted(both)[:5]}")
    lost = inputs - kept_set - rejected_set
    if lost:
        problems.append(f"{len(lost)} input rows neither kept nor rejected: {sorted(lost)[:5]}")
    invented = (kept_set | rejected_set) - inputs - created
    if invented:
        problems.append(f"{len(invented)} rows from nowhere: {sorted(invented)[:5]}")
    if problems:
        raise InvariantError(f"{stage}: " + "; ".join(problems))


def reason_counts(rejected: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in rejected["reason"].value_counts().sort_index().items()}


def rejection_report(kept: pd.DataFrame, rejected: pd.DataFrame, examples: int = 5) -> dict:
    """Per source: rows kept and rejected by reason; per reason: a few ids to look at
    (`maskset app` and the rejected.parquet `detail` column say more)."""
    sources = sorted(set(kept["source"].dropna()) | set(rejected["source"].dropna()))
    per_source = {
        source: {
            "kept": int((kept["source"] == source).sum()),
            "rejected_by_reason": reason_counts(rejected[rejected["source"] == source]),
        }
        for source in sources
    }
    example_ids = {
        str(reason): sorted(group["id"])[:examples] for reason, group in rejected.groupby("reason", sort=True)
    }
    return {"by_source": per_source, "examples": example_ids}


# A stage whose rejected share differs between two labels by more than this (and both have at
# least SKEW_MIN_ROWS rows) says so: the dataset it leaves is skewed by the stage, not the
# source. The default of the `max_label_skew` param.
MAX_LABEL_SKEW = 0.10
SKEW_MIN_ROWS = 20


def label_survival(kept: pd.DataFrame, rejected: pd.DataFrame) -> dict:
    """Per label: rows kept and rejected (by reason) and the rejected share of kept +
    rejected; and the largest gap in that share between two labels of SKEW_MIN_ROWS rows or
    more. Rows rejected before their label was read count under `unknown`, outside the gap."""
    kept_labels = kept["label"].fillna("unknown")
    rejected_labels = rejected["label"].fillna("unknown")
    by_label = {}
    shares: dict[str, float] = {}  # of the labels with enough rows to compare
    for label in sorted(set(kept_labels) | set(rejected_labels)):
        n_kept, lost = int((kept_labels == label).sum()), rejected[rejected_labels == label]
        share = round(len(lost) / (n_kept + len(lost)), 4)
        by_label[label] = {
            "kept": n_kept,
            "rejected": len(lost),
            "rejected_share": share,
            "rejected_by_reason": reason_counts(lost),
        }
        if label != "unknown" and n_kept + len(lost) >= SKEW_MIN_ROWS:
            shares[label] = share
    skew = None
    if len(shares) > 1:
        most, least = max(shares, key=lambda k: shares[k]), min(shares, key=lambda k: shares[k])
        skew = {"gap": round(shares[most] - shares[least], 4), "most_rejected": most, "least_rejected": least}
    return {"by_label": by_label, "label_skew": skew}


def label_skew_warning(stage: str, survival: dict, max_gap: float = MAX_LABEL_SKEW) -> str | None:
    """The warning a stage prints when it rejects one label's rows much more than another's."""
    skew = survival["label_skew"]
    if skew is None or skew["gap"] <= max_gap:
        return None
    rows = survival["by_label"]
    most, least = rows[skew["most_rejected"]], rows[skew["least_rejected"]]
    reasons = ", ".join(
        f"{k}={v}" for k, v in sorted(most["rejected_by_reason"].items(), key=lambda kv: -kv[1])[:3]
    )
    return (
        f"{stage}: rejected {most['rejected_share']:.0%} of {skew['most_rejected']} rows but "
        f"{least['rejected_share']:.0%} of {skew['least_rejected']} ({round(skew['gap'] * 100, 1):g} points, "
        f"more than {round(max_gap * 100, 1):g}); {skew['most_rejected']} lost to {reasons}"
    )
