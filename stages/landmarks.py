"""landmarks: datasets/filter/manifest.parquet -> datasets/landmarks/ (see pipeline/landmarks.py)."""

from pathlib import Path

from pipeline.landmarks import LandmarksConfig, add_landmarks
from stages.common import run, transform


def main() -> None:
    transform(
        "landmarks",
        LandmarksConfig,
        add_landmarks,
        Path("datasets/filter"),
        Path("datasets/landmarks"),
    )


if __name__ == "__main__":
    run(main)
