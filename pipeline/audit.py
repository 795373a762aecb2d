"""Audit: who is in the data set, per class and split, and how each model does per group.

Public face-mask sets often draw one class from one population, and a classifier then learns
skin tone as a shortcut; these tables make that visible before anyone trains on the data.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate
from scipy.stats.contingency import association
from sklearn.metrics import accuracy_score

from pipeline.config import setting
from pipeline.manifest import LABELS, SPLITS, Label
from pipeline.skin_tone import ITA_BINS, TONE_COLUMNS

BINS = [name for name, _ in ITA_BINS] + ["unknown"]
MIN_KNOWN_FOR_ASSOCIATION = 20
AGE_BANDS = ((0, "0-17"), (18, "18-29"), (30, "30-44"), (45, "45-64"), (65, "65+"))
# the attributes the audit tabulates: skin tone is estimated here, the others come from the
# manifest (annotations where a source has them, e.g. gender, race and age)
ATTRIBUTES = ("skin_tone_bin", "gender", "race", "age_band", "source", "mask_type", "synthetic")
# where an attribute's values come from: measured here, or a source's own annotation of each face
ORIGINS = {
    "skin_tone_bin": "estimated",
    "gender": "annotation",
    "race": "annotation",
    "age_band": "annotation",
}


@dataclass(frozen=True)
class AuditConfig:
    min_group_share: float = setting(0.1, ge=0, le=1)  # a skin-tone bin under this share is thin
    max_cramers_v: float = setting(0.3, ge=0, le=1)  # label x attribute association above: a warning
    max_gap: float = setting(0.1, ge=0, le=1)  # accuracy / FPR / FNR gap between groups above: a warning
    min_group_n: int = setting(5, ge=1)  # groups with fewer test faces are shown but not compared
    bootstrap: int = setting(200, ge=1)  # resamples for the per-group confidence intervals
    seed: int = 0


def age_band(age: object) -> str:
    if age is None or pd.isna(age):
        return "unknown"
    return [name for low, name in AGE_BANDS if int(age) >= low][-1]  # type: ignore[call-overload]


def attribute_frame(tones: pd.DataFrame) -> pd.DataFrame:
    """One column per audited attribute, `unknown` where a face has no value."""
    frame = tones[["id", "split", "label"]].copy()
    for column in ATTRIBUTES:
        if column == "age_band":
            # a source's own band where it gives one (FairFace's ranges do not fit AGE_BANDS),
            # else AGE_BANDS of the annotated age
            derived = (
                tones["age"].map(age_band) if "age" in tones else pd.Series("unknown", index=tones.index)
            )
            given = tones["age_band"] if "age_band" in tones else pd.Series(None, index=tones.index)
            frame[column] = given.where(given.notna() & given.ne(""), derived)
        elif column in tones:
            frame[column] = tones[column].map(lambda v: "unknown" if v is None or pd.isna(v) else str(v))
        else:
            frame[column] = "unknown"
    return frame


def crosstab(df: pd.DataFrame, column: str, values: list[str]) -> dict:
    """label -> value -> count, every label and value present (zeros included)."""
    table = pd.crosstab(df["label"], df[column]).reindex(index=LABELS, columns=values, fill_value=0)
    return {label: {v: int(table.at[label, v]) for v in values} for label in LABELS}


def cramers_v(df: pd.DataFrame, column: str) -> float | None:
    """Association between label and `column` (0 none, 1 one determines the other), over rows
    where the attribute is known; None when too few are known for the number to mean anything."""
    known = df[df[column] != "unknown"]
    table = pd.crosstab(known["label"], known[column])
    if len(known) < MIN_KNOWN_FOR_ASSOCIATION or table.shape[0] < 2 or table.shape[1] < 2:
        return None
    return float(association(table.to_numpy(), method="cramer"))


def _bootstrap_interval(correct: np.ndarray, rng: np.random.Generator, n: int) -> list[float]:
    """95% percentile interval of the accuracy, resampling the group's faces."""
    if not len(correct):
        return [float("nan"), float("nan")]
    means = correct[rng.integers(0, len(correct), (n, len(correct)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


# metric -> (which faces it is a rate over, what counts): accuracy over all, FPR over the
# faces without a mask (reported as masked), FNR over the masked ones (reported as not)
RATES = {
    "accuracy": (lambda truth: np.ones_like(truth), lambda truth, guess: truth == guess),
    "fpr": (lambda truth: ~truth, lambda truth, guess: guess),
    "fnr": (lambda truth: truth, lambda truth, guess: ~guess),
}


def _bootstrap_rates(hits: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return hits[rng.integers(0, len(hits), (n, len(hits)))].mean(axis=1)


def rate_gaps(
    truth: np.ndarray, guess: np.ndarray, groups: np.ndarray, config: AuditConfig, rng: np.random.Generator
) -> dict:
    """For each rate, the gap between the groups with the highest and the lowest, over
    groups with at least min_group_n faces the rate is taken over (negatives for FPR,
    positives for FNR; `unknown` left out), with a 95% bootstrap interval of that gap from
    resampling each group's faces. A gap counts as a finding only where the interval
    excludes 0: between groups of ten faces a large gap is often just noise."""
    gaps = {}
    for metric, (over, hit) in RATES.items():
        hits = {}
        for group in sorted(set(groups) - {"unknown"}):
            members = (groups == group) & over(truth)
            if members.sum() >= config.min_group_n:
                hits[group] = hit(truth[members], guess[members]).astype(float)
        if len(hits) < 2:
            continue
        high = max(hits, key=lambda g: (hits[g].mean(), g))
        low = min(hits, key=lambda g: (hits[g].mean(), g))
        spread = _bootstrap_rates(hits[high], rng, config.bootstrap) - _bootstrap_rates(
            hits[low], rng, config.bootstrap
        )
        gaps[metric] = {
            "gap": float(hits[high].mean() - hits[low].mean()),
            "ci95": [float(np.percentile(spread, 2.5)), float(np.percentile(spread, 97.5))],
            "groups": [str(high), str(low)],
            "n": [len(hits[high]), len(hits[low])],
        }
    return gaps


def group_metrics(preds: pd.DataFrame, groups: pd.DataFrame, column: str, config: AuditConfig) -> dict:
    """fairlearn's MetricFrame on the test split: accuracy, false positive and false negative
    rate of `mask` (a mask reported where there is none; a mask missed) per group of `column`,
    with bootstrap intervals for accuracy, and the largest gap of each rate (rate_gaps)."""
    test = preds[preds["split"] == "test"].drop(columns=list(ATTRIBUTES), errors="ignore")
    test = test.merge(groups[["id", column]], on="id")
    if test.empty:
        return {"per_group": {}, "gaps": {}}
    truth = (test["label"] == Label.MASK).to_numpy()
    guess = (test["prediction"] == Label.MASK).to_numpy()
    frame = MetricFrame(
        metrics={"accuracy": accuracy_score, "fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=truth,
        y_pred=guess,
        sensitive_features=test[column].to_numpy(),
    )
    rng = np.random.default_rng(config.seed)
    correct = test["correct"].to_numpy(dtype=float)
    per_group = {}
    for group, row in frame.by_group.iterrows():
        members = (test[column] == group).to_numpy()
        per_group[str(group)] = {
            "n": int(members.sum()),
            **{k: float(v) for k, v in row.items()},
            "accuracy_ci95": _bootstrap_interval(correct[members], rng, config.bootstrap),
        }
    return {"per_group": per_group, "gaps": rate_gaps(truth, guess, test[column].to_numpy(), config, rng)}


def gap_text(metric: str, gap: dict) -> str:
    (high, low), (n_high, n_low) = gap["groups"], gap["n"]
    lo, hi = gap["ci95"]
    return (
        f"{metric} differs by {gap['gap']:.2f} ({high} n={n_high} vs {low} n={n_low}, "
        f"95% interval {lo:.2f} to {hi:.2f})"
    )


def warnings_for(report: dict, config: AuditConfig) -> list[str]:
    found = []
    tones = report["attributes"]["skin_tone_bin"]["by_label"]
    for label, row in tones.items():
        total = sum(row.values())
        known = total - row.get("unknown", 0)
        if total and row.get("unknown", 0) / total > 0.5:
            found.append(f"{label}: skin tone unknown for {row['unknown']} of {total} faces")
        for name in BINS[:-1]:
            if known and 0 < row.get(name, 0) / known < config.min_group_share:
                found.append(
                    f"{label}: only {row[name]} of {known} faces are {name} (< {config.min_group_share:.0%})"
                )
    for column, attribute in report["attributes"].items():
        v = attribute["cramers_v"]
        if v is not None and v > config.max_cramers_v and column != "mask_type":  # no mask, no type
            found.append(f"label and {column} are associated (Cramér's V = {v:.2f}): a shortcut risk")
    for model, columns in report["models"].items():
        for column, result in columns.items():
            for metric, gap in result["gaps"].items():
                if gap["gap"] > config.max_gap and gap["ci95"][0] > 0:
                    found.append(f"{model}: {gap_text(metric, gap)} between {column} groups")
    return found


def audit(
    df: pd.DataFrame, predictions: dict[str, pd.DataFrame], config: AuditConfig
) -> tuple[dict, pd.DataFrame]:
    """(report, per-row skin tone table). Skin tone is the landmarks stage's (one value per
    face for evaluation, inspection and here); a manifest built before it had none."""
    tones = df.copy()
    if "skin_tone_bin" not in tones or tones["skin_tone_bin"].isna().all():
        tones = tones.assign(skin_tone_bin="unknown", skin_tone_error="not_measured(rerun landmarks)")
    for column in TONE_COLUMNS:
        if column not in tones:
            tones[column] = None
    tones["skin_tone_bin"] = tones["skin_tone_bin"].fillna("unknown")
    return findings(tones, predictions, config), tones[["id", "split", "label", "source", *TONE_COLUMNS]]


def findings(tones: pd.DataFrame, predictions: dict[str, pd.DataFrame], config: AuditConfig) -> dict:
    """The report from faces whose skin tone is known (or `unknown` with a reason)."""
    groups = attribute_frame(tones)
    attributes = {}
    for column in ATTRIBUTES:
        values = BINS if column == "skin_tone_bin" else sorted(groups[column].unique())
        if values == ["unknown"]:
            continue  # no face has it: nothing to show
        attributes[column] = {
            "origin": ORIGINS.get(column, "manifest"),
            "by_label": crosstab(groups, column, values),
            "by_split": {s: crosstab(groups[groups["split"] == s], column, values) for s in SPLITS},
            "cramers_v": cramers_v(groups, column),
        }
    report = {
        "rows": len(tones),
        "attributes": attributes,
        "unknown_reasons": {str(k): int(v) for k, v in tones["skin_tone_error"].value_counts().items()},
        "models": {
            name: {column: group_metrics(p, groups, column, config) for column in attributes}
            for name, p in sorted(predictions.items())
        },
    }
    report["warnings"] = warnings_for(report, config)
    return report


def _bar_chart(by_label: dict, title: str) -> str:
    """Counts per value, one bar group per class, as an inline PNG."""
    values = list(next(iter(by_label.values())))
    fig, ax = plt.subplots(figsize=(8, 3.0))
    x = np.arange(len(values))
    for i, label in enumerate(LABELS):
        ax.bar(x + (i - 1) * 0.27, [by_label[label][v] for v in values], width=0.27, label=label)
    ax.set_xticks(x, values, rotation=20 if len(values) > 6 else 0)
    ax.set_ylabel("faces")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table(rows: dict, columns: list[str], table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["", *columns])
    body = "".join(
        "<tr><th>"
        + html.escape(str(k))
        + "</th>"
        + "".join(f"<td>{html.escape(str(v.get(c, 0)))}</td>" for c in columns)
        + "</tr>"
        for k, v in rows.items()
    )
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


_CSS = (
    "body{font-family:sans-serif;max-width:64em;margin:2em auto}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
    ".warn{background:#fff3cd;padding:.5em 1em}"
)


def _model_table(result: dict) -> str:
    rows = {
        group: {
            "n": m["n"],
            "accuracy": f"{m['accuracy']:.3f}",
            "95% interval": f"{m['accuracy_ci95'][0]:.2f}-{m['accuracy_ci95'][1]:.2f}",
            "FPR": f"{m['fpr']:.3f}",
            "FNR": f"{m['fnr']:.3f}",
        }
        for group, m in result["per_group"].items()
    }
    gaps = (
        "; ".join(gap_text(k, v) for k, v in result["gaps"].items()) or "too few faces per group to compare"
    )
    return _table(rows, ["n", "accuracy", "95% interval", "FPR", "FNR"]) + f"<p>largest gaps: {gaps}</p>"


def render_html(report: dict) -> str:
    """A self-contained page (inline CSS and plots) that opens from any file browser."""
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report["warnings"]) or "<li>none</li>"
    sections = []
    for column, attribute in report["attributes"].items():
        values = list(next(iter(attribute["by_label"].values())))
        splits = "".join(
            f"<h4>{s}</h4>" + _table(attribute["by_split"][s], values) for s in attribute["by_split"]
        )
        name = html.escape(column)
        chart = _bar_chart(attribute["by_label"], column)
        v = attribute["cramers_v"]
        association_text = "too few known values" if v is None else f"{v:.2f}"
        sections.append(
            f"<h2>{name} per class</h2>"
            f"<p>{attribute['origin']}; Cramér's V between label and {name}: {association_text}</p>"
            f'<img alt="{name} per class" src="data:image/png;base64,{chart}">'
            + _table(attribute["by_label"], values, f"by_label-{column}")
            + f"<details><summary>per split</summary>{splits}</details>"
        )
    models = "".join(
        f"<h3>{html.escape(name)}: {html.escape(column)}</h3>" + _model_table(result)
        for name, columns in report["models"].items()
        for column, result in columns.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>maskset audit</title>
<style>{_CSS}</style>
</head><body><h1>maskset audit</h1>
<div class="warn"><h2>Warnings</h2><ul id="warnings">{warn}</ul></div>
<p id="rows">{report["rows"]} faces.</p>
<p>Skin tone is estimated (Individual Typology Angle from CIELAB skin patches placed by the
landmarks), not annotated; faces without a reliable skin region are <em>unknown</em>:
{html.escape(str(report["unknown_reasons"]))}. Other attributes are the manifest's
(annotations where a source provides them).</p>
{"".join(sections)}
<h2>Models per group (test split; fairlearn MetricFrame, positive class: mask)</h2>{models}
</body></html>
"""
