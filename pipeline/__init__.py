"""maskset: a reproducible data-curation pipeline for face-mask classification datasets.

`pipeline` is the library: pure functions over plain values and DataFrames. It never reads
params.yaml or knows DVC paths; the thin scripts in `stages/` do that.
"""
