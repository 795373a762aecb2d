"""Anomaly filters: a registry of checks, picked by name from params (cleanvision-style).

Each check looks at one face and returns None (keep) or the evidence for rejecting it; the
first failing check in the configured order names the rejection reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np
import pandas as pd

from pipeline.images import ImageRejected, load_rgb
from pipeline.manifest import check_conservation, new_rejected
from pipeline.parallel import parallel_map

STAGE = "filter"


@dataclass(frozen=True)
class FilterConfig:
    checks: tuple[str, ...] = ("min_size", "aspect_ratio", "brightness", "blur", "low_information")
    min_size: int = 32
    aspect_ratio: tuple[float, float] = (0.25, 4.0)
    brightness: tuple[float, float] = (5.0, 250.0)
    blur: float = 5.0
    low_information: float = 3.0
    workers: int = 2

    def __post_init__(self) -> None:
        unknown = set(self.checks) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown filter checks {sorted(unknown)}; known: {sorted(CHECKS)}")


Check = Callable[[np.ndarray, np.ndarray, FilterConfig], str | None]


def _min_size(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    h, w = grey.shape
    return f"size={w}x{h} < {c.min_size}" if min(h, w) < c.min_size else None


def _aspect_ratio(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    h, w = grey.shape
    ratio = w / h
    lo, hi = c.aspect_ratio
    return None if lo <= ratio <= hi else f"aspect_ratio={ratio:.2f} outside [{lo}, {hi}]"


def _brightness(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    mean = rgb.reshape(-1, 3).mean(0)
    lo, hi = c.brightness
    if lo <= grey.mean() <= hi:
        return None
    return f"mean_rgb=({mean[0]:.0f},{mean[1]:.0f},{mean[2]:.0f}) outside [{lo}, {hi}]"


def _blur(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    var = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return f"laplacian_var={var:.1f} < {c.blur}" if var < c.blur else None


def _low_information(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    hist = np.bincount(grey.ravel(), minlength=256) / grey.size
    nonzero = hist[hist > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum())
    return f"entropy={entropy:.2f} bits < {c.low_information}" if entropy < c.low_information else None


CHECKS: dict[str, Check] = {
    "min_size": _min_size,
    "aspect_ratio": _aspect_ratio,
    "brightness": _brightness,
    "blur": _blur,
    "low_information": _low_information,
}


def first_failure(path: str, config: FilterConfig) -> tuple[str, str] | None:
    """(reason, detail) of the first failing check on the face at `path`, or None."""
    try:
        rgb = load_rgb(path)
    except ImageRejected as exc:
        return exc.reason, exc.detail
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for name in config.checks:
        detail = CHECKS[name](rgb, grey, config)
        if detail is not None:
            return name, detail
    return None


def apply_filters(df: pd.DataFrame, config: FilterConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected) after every configured check."""
    df = df.reset_index(drop=True)
    work = partial(first_failure, config=config)
    failures = list(parallel_map(work, list(df["path"]), workers=config.workers, desc="filter"))
    failed = np.array([f is not None for f in failures], dtype=bool)
    rejected = new_rejected(
        {
            "id": row["id"],
            "stage": STAGE,
            "reason": f[0],
            "detail": f[1],
            "source": row["source"],
            "origin": row["origin"],
            "path": row["path"],
            "label": row["label"],
        }
        for f, (_, row) in zip(failures, df.iterrows(), strict=True)
        if f is not None
    )
    kept = df.loc[~failed].reset_index(drop=True)
    check_conservation(STAGE, df["id"], kept["id"], rejected["id"])
    return kept, rejected
