"""Which FiftyOne database a project uses, decided before FiftyOne is imported.

FiftyOne keeps every dataset of a user in one MongoDB under ~/.fiftyone by default, shared by
every process of that user: two checkouts then overwrite each other's dataset, and one
process stopping the shared server breaks another's stage mid-write. So each project gets a
database directory of its own (its own mongod) and a dataset name of its own; FiftyOne reads
its configuration once, at import, hence this module imports no FiftyOne.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# what FiftyOne reads at import; a user who exported either chose their database already
DATABASE_ENV = ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_URI")


@dataclass(frozen=True)
class InspectConfig:
    dataset_name: str = "auto"  # auto: maskset-<folder>-<hash of its path>, one per working copy
    database_dir: str | None = ".fiftyone/db"  # relative to the project; null: FiftyOne's own config
    port: int = 5151  # `maskset app`

    def __post_init__(self) -> None:
        if not self.dataset_name.strip():
            raise ValueError("dataset_name must not be empty (auto gives each working copy its own)")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1-65535, got {self.port}")


def use_database(directory: Path | None) -> Path | None:
    """Point FiftyOne at `directory` (created if absent) unless the environment already
    names a database; returns the directory in use, None when FiftyOne's config decides.
    Must run before the first `import fiftyone` of the process."""
    chosen = next((os.environ[k] for k in DATABASE_ENV if os.environ.get(k)), None)
    if chosen is not None:
        return Path(chosen) if "FIFTYONE_DATABASE_DIR" in os.environ else None
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["FIFTYONE_DATABASE_DIR"] = str(directory)
    return directory
