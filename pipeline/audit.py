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
from scipy.stats.contingency import association

from pipeline.images import ImageRejected, load_rgb
from pipeline.landmarks import points_of
from pipeline.manifest import LABELS, SPLITS, Label
from pipeline.parallel import parallel_map
from pipeline.skin_tone import ITA_BINS, estimate

BINS = [name for name, _ in ITA_BINS] + ["unknown"]
MIN_KNOWN_FOR_ASSOCIATION = 20


@dataclass(frozen=True)
class AuditConfig:
    min_group_share: float = 0.1
    workers: int = 2


def _tone_of(row: dict) -> dict:
    points = points_of(pd.Series(row))
    try:
        rgb = load_rgb(row["path"])
    except ImageRejected as exc:
        return {"skin_tone_bin": "unknown", "skin_tone_error": exc.reason}
    tone = estimate(rgb, points, masked=row["label"] != Label.NO_MASK)
    return {
        "skin_tone_ita": tone.ita,
        "skin_tone_bin": tone.bin,
        "monk_tone": tone.monk,
        "skin_tone_error": tone.error,
    }


def add_skin_tone(df: pd.DataFrame, config: AuditConfig) -> pd.DataFrame:
    rows = df[["path", "label", "landmarks"]].to_dict("records")
    tones = list(parallel_map(_tone_of, rows, workers=config.workers, desc="skin tone"))
    out = df.copy()
    for column in ("skin_tone_ita", "skin_tone_bin", "monk_tone", "skin_tone_error"):
        out[column] = [t.get(column) for t in tones]
    out["attr_origin"] = "estimated"
    return out


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


def group_metrics(preds: pd.DataFrame, tones: pd.DataFrame) -> dict:
    """Test accuracy per skin-tone bin, with the max gap between bins holding 5+ faces."""
    # the audit's own tones replace any the predictions carried from the manifest
    test = preds[preds["split"] == "test"].drop(columns="skin_tone_bin", errors="ignore")
    test = test.merge(tones[["id", "skin_tone_bin"]], on="id")
    per_bin = {
        b: {"n": len(p), "accuracy": float(p["correct"].mean())} for b, p in test.groupby("skin_tone_bin")
    }
    usable = [v["accuracy"] for v in per_bin.values() if v["n"] >= 5]
    return {
        "per_skin_tone": per_bin,
        "accuracy_gap": float(max(usable) - min(usable)) if len(usable) > 1 else None,
    }


def warnings_for(report: dict, min_share: float) -> list[str]:
    found = []
    for label, row in report["skin_tone_by_label"].items():
        total = sum(row.values())
        known = total - row["unknown"]
        if total and row["unknown"] / total > 0.5:
            found.append(f"{label}: skin tone unknown for {row['unknown']} of {total} faces")
        for name in BINS[:-1]:
            if known and 0 < row[name] / known < min_share:
                found.append(f"{label}: only {row[name]} of {known} faces are {name} (< {min_share:.0%})")
    v = report["label_skin_tone_cramers_v"]
    if v is not None and v > 0.3:
        found.append(f"label and skin tone are associated (Cramér's V = {v:.2f}): a shortcut risk")
    return found


def audit(
    df: pd.DataFrame, predictions: dict[str, pd.DataFrame], config: AuditConfig
) -> tuple[dict, pd.DataFrame]:
    """(report, per-row skin tone table)."""
    tones = add_skin_tone(df, config)
    report = {
        "rows": len(df),
        "skin_tone_by_label": crosstab(tones, "skin_tone_bin", BINS),
        "skin_tone_by_split": {
            s: crosstab(tones[tones["split"] == s], "skin_tone_bin", BINS) for s in SPLITS
        },
        "unknown_reasons": {str(k): int(v) for k, v in tones["skin_tone_error"].value_counts().items()},
        "source_by_label": crosstab(tones, "source", sorted(tones["source"].unique())),
        "synthetic_by_label": {
            label: int(tones[(tones["label"] == label) & tones["synthetic"].fillna(False)].shape[0])
            for label in LABELS
        },
        "label_skin_tone_cramers_v": cramers_v(tones, "skin_tone_bin"),
        "models": {name: group_metrics(p, tones) for name, p in sorted(predictions.items())},
    }
    report["warnings"] = warnings_for(report, config.min_group_share)
    table = tones[
        [
            "id",
            "split",
            "label",
            "source",
            "skin_tone_ita",
            "skin_tone_bin",
            "monk_tone",
            "skin_tone_error",
        ]
    ]
    return report, table


def _bar_chart(by_label: dict) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x = np.arange(len(BINS))
    for i, label in enumerate(LABELS):
        ax.bar(x + (i - 1) * 0.27, [by_label[label][b] for b in BINS], width=0.27, label=label)
    ax.set_xticks(x, BINS)
    ax.set_ylabel("faces")
    ax.set_title("Skin tone (ITA bin) per class")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table(rows: dict, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    body = "".join(
        "<tr><th>" + html.escape(k) + "</th>" + "".join(f"<td>{v.get(c, 0)}</td>" for c in columns) + "</tr>"
        for k, v in rows.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
    ".warn{background:#fff3cd;padding:.5em 1em}"
)


def render_html(report: dict) -> str:
    """A self-contained page (inline CSS and plot) that opens from any file browser."""
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report["warnings"]) or "<li>none</li>"
    split_tables = "".join(f"<h3>{s}</h3>" + _table(report["skin_tone_by_split"][s], BINS) for s in SPLITS)
    model_tables = "".join(
        f"<h3>{html.escape(name)}</h3>"
        + _table(
            {b: {"n": v["n"], "accuracy": f"{v['accuracy']:.3f}"} for b, v in m["per_skin_tone"].items()},
            ["n", "accuracy"],
        )
        + f"<p>max accuracy gap between bins with 5+ test faces: {m['accuracy_gap']}</p>"
        for name, m in report["models"].items()
    )
    sources = sorted({s for row in report["source_by_label"].values() for s in row})
    chart = _bar_chart(report["skin_tone_by_label"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>maskset audit</title>
<style>{_CSS}</style>
</head><body><h1>maskset audit</h1>
<div class="warn"><h2>Warnings</h2><ul>{warn}</ul></div>
<p>{report["rows"]} faces. Skin tone is estimated (ITA from CIELAB skin patches), not annotated;
faces without a reliable skin region are <em>unknown</em>: {html.escape(str(report["unknown_reasons"]))}.
Cramér's V between label and skin tone: {report["label_skin_tone_cramers_v"]}.</p>
<h2>Skin tone per class</h2>
<img alt="skin tone per class" src="data:image/png;base64,{chart}">
{_table(report["skin_tone_by_label"], BINS)}
<h2>Skin tone per class and split</h2>{split_tables}
<h2>Source per class</h2>{_table(report["source_by_label"], sources)}
<h2>Synthetic faces per class</h2>{_table({"synthetic": report["synthetic_by_label"]}, list(LABELS))}
<h2>Test accuracy per skin tone</h2>{model_tables}
</body></html>
"""
