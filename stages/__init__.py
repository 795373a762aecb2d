"""One thin script per DVC stage: read its params section, call `pipeline`, write its outputs."""
