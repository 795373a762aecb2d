"""Layouts where folders or file names carry the label: one file is one face or one photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.layouts.units import Candidate, Problem, Unit, group_of, origin_of, walk_files
from pipeline.sources import Part, Source


def _unit(
    source: Source,
    part: Part,
    file: Path,
    origin: str,
    raw: str,
    problem: Problem | None,
    folder: str | None,
    name: str,
) -> Unit:
    """The unit of one file whose raw label its path gives."""
    group = group_of(source, part, origin, folder, name)
    return Unit(source.key, origin, file, part.faces, [Candidate(raw)], error=problem, group=group)


def read_folder_per_class(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """Class folders (`with_mask/`, `WithoutMask/`, ...). Every file inside is a candidate,
    whatever its extension, so junk is rejected with a reason rather than skipped; a person
    folder may sit below the class folder (`with_mask/alice/1.jpg`)."""
    base = root / part.path
    for file, problem in walk_files(base):
        rel = file.relative_to(base)
        labelled = len(rel.parts) >= 2
        if not labelled:
            problem = problem or ("no_label", "file is not inside a class folder")
        folder = rel.parts[1] if len(rel.parts) >= 3 else None
        raw = rel.parts[0] if labelled else ""
        yield _unit(source, part, file, origin_of(part, rel), raw, problem, folder, file.stem)


def read_single_class(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """A folder whose every file has the part's one raw label (FFHQ, RMFD's masked and
    unmasked trees); sub-folders, such as RMFD's one per person, are kept in `origin`."""
    base = root / part.path
    for file, problem in walk_files(base):
        rel = file.relative_to(base)
        folder = rel.parts[0] if len(rel.parts) >= 2 else None
        yield _unit(source, part, file, origin_of(part, rel), str(part.label), problem, folder, file.stem)


def read_name_suffix(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """The raw label is the file name after the first underscore, as in MaskedFace-Net:
    `00042_Mask_Mouth_Chin.jpg` is photo 00042 with the raw label `Mask_Mouth_Chin`."""
    base = root / part.path
    for file, problem in walk_files(base):
        name, sep, suffix = file.stem.partition("_")
        if not problem and not (sep and suffix):
            problem = ("no_label", f"file name {file.name!r} has no _<label> suffix")
        yield _unit(source, part, file, origin_of(part, file.relative_to(base)), suffix, problem, None, name)
