"""audit: skin-tone balance per class and split, per-group accuracy, JSON + HTML report."""

from pathlib import Path

import pandas as pd

from pipeline.atomic import atomic_path, write_json
from pipeline.audit import AuditConfig, audit, render_html
from pipeline.manifest import read_manifest
from stages.common import load_params, run, section, to_config

OUT = Path("reports/audit")


def main() -> None:
    params = load_params()
    config = to_config(AuditConfig, section("audit", params), "audit")
    df = read_manifest(Path("datasets/split/manifest.parquet"))
    preds = {
        m: pd.read_parquet(Path("reports/evaluate") / m / "predictions.parquet")
        for m in params.get("models", [])
    }
    report, tones = audit(df, preds, config)
    write_json(report, OUT / "audit.json")
    with atomic_path(OUT / "skin_tone.parquet") as tmp:
        tones.to_parquet(tmp, index=False)
    with atomic_path(OUT / "index.html") as tmp:
        tmp.write_text(render_html(report))
    print(f"audit: {report['rows']} faces, {len(report['warnings'])} warnings; see {OUT / 'index.html'}")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")


if __name__ == "__main__":
    run(main)
