"""audit: skin-tone balance per class and split, per-group accuracy, JSON + HTML report."""

import json

import pandas as pd

from pipeline.atomic import atomic_path, write_json
from pipeline.audit import AuditConfig, audit, render_html
from pipeline.config import parse
from pipeline.datasheet import render_datasheet
from pipeline.manifest import read_manifest
from pipeline.sources import get_source, load_catalog
from stages.common import load_params, project, run, section
from stages.paths import AUDIT, CATALOG_FILE, DATA_STAGES, DATASHEET, evaluate_dir, manifest_of, report_of


def main() -> None:
    params = load_params()
    config = parse(AuditConfig, section("audit", params), "audit")
    df = read_manifest(manifest_of("split"))
    preds = {m: pd.read_parquet(evaluate_dir(m) / "predictions.parquet") for m in project(params).evaluated}
    report, tones = audit(df, preds, config)
    write_json(report, AUDIT / "audit.json")
    write_json({"warnings": len(report["warnings"])}, AUDIT / "summary.json")
    with atomic_path(AUDIT / "skin_tone.parquet") as tmp:
        tones.to_parquet(tmp, index=False)
    with atomic_path(AUDIT / "index.html") as tmp:
        tmp.write_text(render_html(report))
    catalog = load_catalog(CATALOG_FILE)
    sources = [get_source(catalog, key) for key in sorted(df["source"].dropna().unique())]
    counts = {s: json.loads(report_of(s).read_text()) for s in DATA_STAGES}
    with atomic_path(DATASHEET) as tmp:
        tmp.write_text(render_datasheet(sources, counts, df, report))
    print(
        f"audit: {report['rows']} faces, {len(report['warnings'])} warnings; "
        f"see {AUDIT / 'index.html'} and {DATASHEET}"
    )
    for warning in report["warnings"]:
        print(f"  warning: {warning}")


if __name__ == "__main__":
    run(main)
