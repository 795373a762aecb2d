"""A datasheet for every built dataset, after Gebru et al., "Datasheets for Datasets" (2021).

Written by the audit stage from what the pipeline itself recorded (the catalog's licences
and citations, each stage's counts, the split, the audit's findings), so it cannot drift
from the data it describes. The sections a machine cannot know (intended and unsuitable
uses) are stated for the kind of data this is, face crops labelled by mask wear.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from pipeline.manifest import LABELS, SPLITS
from pipeline.sources import Source

USES = """\
## Uses

**Intended.** Training and evaluating face-mask classifiers (worn, not worn, worn incorrectly)
for research and for public-health tooling that counts or reminds, not identifies; comparing
models and preprocessing; studying dataset bias and shortcut learning.

**Unsuitable.** Identifying, tracking or profiling individuals; enforcement or any decision
about a person; surveillance; inferring ethnicity, gender or age (the attributes here are
estimates or source annotations kept only to measure balance); deploying a model without
evaluating it on faces from the population it will see (the warnings above say where this
data is thin); {licence_limits}
"""
# words of a licence statement that restrict use to non-commercial research
NON_COMMERCIAL = ("non-commercial", "noncommercial", "-nc", "research use", "research only")


def cell(value: object) -> str:
    """Text from a catalog or a record, safe in a Markdown table and inert as HTML: a `|`
    would split the row, and Markdown renderers pass raw HTML through to the page."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("|", "\\|")


def _table(rows: Sequence[Sequence[object]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _licence_limits(sources: list[Source]) -> str:
    """The Uses section's licence clause, from this build's sources' own statements."""
    limited = [s.key for s in sources if any(w in s.licence.lower() for w in NON_COMMERCIAL)]
    if limited:
        named = ", ".join(limited)
        return f"any use the sources' licences exclude ({named}: non-commercial or research use only)."
    return "any use the sources' licences exclude (see the table of sources above)."


def _size_rows(manifest: pd.DataFrame) -> list[list[object]]:
    """Per label, the shorter side of the photographed faces (synthetic ones repeat their
    parent's): small faces are what filters reject and what models see worst."""
    if not {"width", "height"} <= set(manifest):
        return []
    real = manifest[~manifest["synthetic"].fillna(False).astype(bool)]
    side = real[["width", "height"]].min(axis=1)
    rows = []
    for label in LABELS:
        of = side[real["label"] == label].dropna()
        if len(of):
            p10, p50, p90 = (int(v) for v in of.quantile([0.1, 0.5, 0.9]))
            rows.append([label, len(of), p10, p50, p90])
    return rows


def _processing(sources: list[Source], synthetic: int) -> str:
    """What the pipeline did to this build's faces, naming only the steps that applied."""
    modes = {part.faces for s in sources for part in s.parts}
    crops = [
        text
        for mode, text in (
            ("boxes", "cropped from the sources' annotated boxes, with a margin"),
            ("detect", "found in whole photos by dlib's face detector"),
            ("crops", "taken as the sources ship them (one face per image)"),
        )
        if mode in modes
    ]
    steps = [
        f"Faces were {', or '.join(crops)}.",
        "Exact and near duplicates were clustered and one face of each kept; anomalies (tiny,"
        " blurred, near-black, odd sizes) were filtered.",
    ]
    if synthetic:
        steps.append(
            f"{synthetic} masks were synthesized from 68 landmarks, with a QA check on every render."
        )
    groups = ["one photo", "a duplicate cluster"]
    if any(part.group == "folder" for s in sources for part in s.parts):
        groups.append("one person's folder")
    if synthetic:
        groups.append("a synthetic face and its parent")
    steps.append(
        f"The split keeps every group ({', '.join(groups)}) in one split, and checks that nothing crosses."
    )
    return " ".join(steps)


def _tone_rows(manifest: pd.DataFrame) -> list[list[object]]:
    """Per label: faces, tones placed by landmarks, by the eyes and by the box, share unknown."""
    if "skin_tone_bin" not in manifest:
        return []
    method = manifest.get("skin_tone_method", pd.Series(None, index=manifest.index))
    known = manifest["skin_tone_bin"].fillna("unknown") != "unknown"
    rows = []
    for label in LABELS:
        of = manifest["label"] == label
        if of.any():
            by = method[of & known].value_counts()
            unknown = f"{1 - known[of].mean():.0%}"
            placed = [int(by.get(m, 0)) for m in ("landmarks", "eyes", "box")]
            rows.append([label, int(of.sum()), *placed, unknown])
    return rows


def render_datasheet(
    sources: list[Source], counts: dict[str, dict], manifest: pd.DataFrame, audit_report: dict
) -> str:
    """The datasheet as Markdown."""
    source_rows = [[s.key, s.title, s.licence, s.citation or "-"] for s in sources]
    stage_rows = [
        [
            stage,
            c.get("rows_in", "-"),
            c.get("rows_out", "-"),
            ", ".join(f"{k} {v}" for k, v in c.get("rejected_by_reason", {}).items()) or "-",
        ]
        for stage, c in counts.items()
    ]
    # per stage and label: the share of that label's rows the stage kept (kept / kept + rejected)
    survival_rows = [
        [
            stage,
            *[
                "-"
                if label not in c.get("by_label", {})
                else f"{1 - c['by_label'][label]['rejected_share']:.0%} of "
                f"{c['by_label'][label]['kept'] + c['by_label'][label]['rejected']}"
                for label in LABELS
            ],
        ]
        for stage, c in counts.items()
        if c.get("by_label")
    ]
    skews = [c["label_skew_warning"] for c in counts.values() if c.get("label_skew_warning")]
    split_rows = [
        [
            split,
            *[int(((manifest["split"] == split) & (manifest["label"] == label)).sum()) for label in LABELS],
        ]
        for split in SPLITS
    ]
    by_source = (
        manifest.groupby(["source", "label"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=LABELS, fill_value=0)
    )
    source_label_rows = [[src, *[int(row[label]) for label in LABELS]] for src, row in by_source.iterrows()]
    synthetic = manifest["synthetic"].fillna(False).astype(bool)
    warnings = (
        "\n".join(f"- {cell(w)}" for w in [*skews, *audit_report["warnings"]])
        or "- none at the audit's thresholds"
    )
    tone_rows, size_rows = _tone_rows(manifest), _size_rows(manifest)
    photos = counts.get("ingest", {}).get("photos", {})
    real = manifest[~synthetic]
    shown = real[["source", "origin"]].drop_duplicates() if "origin" in real else real.iloc[:0]
    photo_line = f"They show {len(shown)} photo{'' if len(shown) == 1 else 's'}"
    if photos:
        photo_line += (
            f" (ingest read {photos['in']} photos, of which {photos['with_faces']} gave at least one face)"
        )
    associations = [
        [column, a["origin"], "-" if a["cramers_v"] is None else f"{a['cramers_v']:.2f}"]
        for column, a in audit_report["attributes"].items()
    ]
    return f"""# Datasheet

Built by maskset's `dvc repro`; every number below comes from the pipeline's own records
(`reports/<stage>.json`, `reports/split.json`, `reports/audit/audit.json`). Rebuild to update it.

## Motivation and composition

{len(manifest)} face images, each a crop of one face, labelled `mask`, `no_mask` or
`incorrect_mask`; {int(synthetic.sum())} of them carry synthetic masks drawn on real
unmasked faces (`synthetic`, with their `parent_id`), the rest are photographs.
{photo_line}.

Shorter side of the photographed faces, in pixels:

{_table(size_rows, ["label", "faces", "10th percentile", "median", "90th percentile"])}

{_table(split_rows, ["split", *LABELS])}

{_table(source_label_rows, ["source", *LABELS])}

## Sources, licences and citations

{_table(source_rows, ["source", "title", "licence", "citation"])}

## Collection and processing

Each stage keeps or rejects every row it gets, with a reason (`datasets/<stage>/rejected.parquet`):

{_table(stage_rows, ["stage", "rows in", "rows out", "rejected by reason"])}

Survival per label: the share of each label's rows a stage kept, of the rows it decided on
(a stage that rejects one label much more often than another skews the dataset; such a
stage is listed under Known biases):

{_table(survival_rows, ["stage", *LABELS])}

{_processing(sources, int(synthetic.sum()))}

## Known biases (audit)

{warnings}

Label x attribute association (Cramér's V; 0 none, 1 the attribute gives the label away):

{_table(associations, ["attribute", "from", "Cramér's V"])}

Skin tone is estimated, never a person's identity: ITA from skin patches placed by the 68
landmarks, or, where they do not fit, by the eye centres two models agree on, or else from a
region of the face box (`skin_tone_method`); faces without usable skin are `unknown`. How
often each label's faces have a tone:

{_table(tone_rows, ["label", "faces", "by landmarks", "by eyes", "by box", "unknown"])}

How far to trust it (benchmarks/skin_tone.py on UTKFace's race annotations): ITA ranks White
above Black faces with an AUC of about 0.77, and light faces in shadow read darker (about one
White face in six lands in `brown` or `dark`); on faces whose landmarks fit, the eye
placement gives the landmarks' bin or the next one for 94-99% of faces, the box region for
90-92%. The box region's tones of masked faces are the least sure (a dark fringe or cap over
a light face can read `dark`). Read per-tone numbers as indicative, not as measurements.

{USES.format(licence_limits=_licence_limits(sources))}
## Maintenance

Reviews of single faces go in `datasets/corrections.yaml` (`maskset corrections` writes it
from App tags) and apply at the next `dvc repro`, with a record in each row's `review`.
"""
