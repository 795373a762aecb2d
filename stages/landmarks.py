"""landmarks: the filter manifest -> datasets/landmarks/ (see pipeline/landmarks.py)."""

from pipeline.landmarks import LandmarksConfig, add_landmarks
from stages.common import run, transform


def main() -> None:
    transform("landmarks", LandmarksConfig, add_landmarks)


if __name__ == "__main__":
    run(main)
