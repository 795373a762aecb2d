"""What a layout reader hands to ingest: units of work, one per origin file.

A unit is one photo (or one face crop) and every face expected on it, so a photo is decoded
once however many faces it holds. A unit with `error` rejects its candidates without opening
anything: an unlabelled file, a box that cannot be a face, an image nobody annotated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.faces import Box
from pipeline.manifest import stable_id
from pipeline.sources import Part, Source

Problem = tuple[str, str]  # (reason, detail) of a rejection


@dataclass(frozen=True)
class Candidate:
    """One face the source promises: a box on a photo, a whole crop, or 'detect them'."""

    label_raw: str
    box: Box | None = None

    def key(self, source: str, origin: str, mode: str) -> str:
        return stable_id(source, origin, mode, self.box)


@dataclass
class Unit:
    source: str
    origin: str  # relative to the source root, posix
    file: Path
    mode: str  # crops | detect | boxes
    candidates: list[Candidate] = field(default_factory=list)
    error: Problem | None = None
    group: str = ""  # split group of every face found on this file
    size: tuple[int, int] | None = None  # (width, height) the annotation was drawn on


def outside_link(path: Path, root: Path) -> str | None:
    """Where a symlinked file leads when that is outside `root` (a source must not read
    ~/.ssh through a link planted in it), else None."""
    if not path.is_symlink():
        return None
    target = Path(os.path.realpath(path))
    return None if target.is_relative_to(Path(os.path.realpath(root))) else str(target)


def walk_files(root: Path) -> Iterator[tuple[Path, Problem | None]]:
    """Every file under root, sorted. Symlinked folders are reported, not followed: they
    can loop (`a -> .`) or lead out of the source; so are linked files that lead out of it."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d not in links]
        for name in sorted(filenames + links):
            path = Path(dirpath) / name
            if name in links:
                yield path, ("symlinked_folder", f"not followed: points to {os.readlink(path)}")
            elif (target := outside_link(path, root)) is not None:
                yield path, ("symlinked_file", f"not followed: leads outside the source, to {target}")
            else:
                yield path, None


def origin_of(part: Part, relative: Path | str) -> str:
    """A file's `origin`: its path inside the source, which ids and reports use."""
    return PurePosixPath(part.path, PurePosixPath(Path(relative).as_posix())).as_posix()


def group_of(source: Source, part: Part, origin: str, folder: str | None, name: str) -> str:
    """The split group of a file. `photo`: the file alone. `folder`: every file under the same
    person folder, in every part (RMFD's masked and unmasked trees use the same person names).
    `name`: every file whose name (minus its label suffix) matches, across every source in the
    same group_namespace (MaskedFace-Net's 00042_Mask.jpg is FFHQ's 00042.png with a mask)."""
    if part.group == "folder" and folder:
        return "g" + stable_id(source.group_namespace, "folder", folder)
    if part.group == "name":
        return "g" + stable_id(source.group_namespace, "name", name)
    return "g" + stable_id(source.key, origin)
