"""Anomaly filters: a registry of checks, picked by name from params (cleanvision-style).

Each image check looks at one face and returns None (keep) or the evidence for rejecting
it; the first failing check in the configured order names the rejection reason. Dataset
checks (`odd_size`) then look at each face against the others of its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import cv2
import numpy as np
import pandas as pd

from pipeline.config import setting
from pipeline.images import ImageRejected, load_rgb
from pipeline.manifest import check_conservation, reject_rows
from pipeline.parallel import parallel_map

STAGE = "filter"


# the checks a config may name: the per-image CHECKS and the per-source DATASET_CHECKS below
FilterCheck = Literal[
    "min_size", "aspect_ratio", "brightness", "blur", "low_information", "grayscale", "odd_size"
]


@dataclass(frozen=True)
class FilterConfig:
    checks: tuple[FilterCheck, ...] = setting(
        ("min_size", "aspect_ratio", "brightness", "blur", "low_information", "odd_size"), unique=True
    )
    min_size: int = setting(32, ge=1)
    aspect_ratio: tuple[float, float] = setting((0.25, 4.0), gt=0)
    brightness: tuple[float, float] = setting((5.0, 250.0), ge=0, le=255)
    blur: float = setting(10.0, ge=0)
    blur_size: int = setting(128, ge=8)
    low_information: float = setting(3.0, ge=0)
    grayscale: float = setting(2.0, ge=0)
    odd_size: tuple[float, float] = setting((4.0, 5.0), gt=0)  # [factor, MADs]
    workers: int = setting(2, ge=1)

    def __post_init__(self) -> None:
        for name in ("aspect_ratio", "brightness"):
            low, high = getattr(self, name)
            if not low < high:
                raise ValueError(f"{name} must be [low, high] with low < high, got {[low, high]}")


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
    """Variance of the Laplacian on the face resized to blur_size x blur_size: the raw value
    grows with image size, so one threshold could not serve 40-px crops and 1024-px faces.
    A small face upscaled has little fine detail and reads as blurry, which it is."""
    side = c.blur_size
    shrink = min(grey.shape) > side
    sized = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    var = float(cv2.Laplacian(sized, cv2.CV_64F).var())
    return f"laplacian_var={var:.1f} at {side}px < {c.blur}" if var < c.blur else None


def _grayscale(rgb: np.ndarray, grey: np.ndarray, c: FilterConfig) -> str | None:
    """Grey pictures in a colour set: a shortcut a classifier can learn (masks are often blue)."""
    channels = rgb.astype(np.int16)
    spread = float(np.abs(channels - channels.mean(axis=2, keepdims=True)).mean())
    return f"channel_spread={spread:.2f} < {c.grayscale}" if spread < c.grayscale else None


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
    "grayscale": _grayscale,
}


def _odd_size(df: pd.DataFrame, c: FilterConfig) -> pd.Series:
    """Faces far from their source's typical size (a 1024-px face among 100-px crops, a
    thumbnail among photos): beyond `factor` times the source's median size and beyond
    `mads` robust standard deviations of log size, so a source of one size flags nothing."""
    factor, mads = c.odd_size
    size = np.log(np.sqrt(df["width"].astype(float) * df["height"].astype(float)))
    median = size.groupby(df["source"]).transform("median")
    spread = (size - median).abs().groupby(df["source"]).transform("median") * 1.4826
    limit = np.maximum(mads * spread, np.log(factor))
    odd = (size - median).abs() > limit
    ratio = np.exp(size - median)
    return pd.Series(
        [
            f"size={ratio_:.2f}x the source's median face" if o else None
            for o, ratio_ in zip(odd, ratio, strict=True)
        ],
        index=df.index,
    )


DATASET_CHECKS: dict[str, Callable[[pd.DataFrame, FilterConfig], pd.Series]] = {"odd_size": _odd_size}


def first_failure(path: str, config: FilterConfig) -> tuple[str, str] | None:
    """(reason, detail) of the first failing check on the face at `path`, or None."""
    try:
        rgb = load_rgb(path)
    except ImageRejected as exc:
        return exc.reason, exc.detail
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for name in (c for c in config.checks if c in CHECKS):
        detail = CHECKS[name](rgb, grey, config)
        if detail is not None:
            return name, detail
    return None


def apply_filters(df: pd.DataFrame, config: FilterConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected) after every configured check."""
    df = df.reset_index(drop=True)
    work = partial(first_failure, config=config)
    failures = list(parallel_map(work, list(df["path"]), workers=config.workers, desc="filter"))
    for name in (c for c in config.checks if c in DATASET_CHECKS):
        passed = [i for i, f in enumerate(failures) if f is None]
        found = DATASET_CHECKS[name](df.loc[passed], config)
        for i, detail in found.dropna().items():
            failures[i] = (name, detail)
    failed = np.array([f is not None for f in failures], dtype=bool)
    rejected = reject_rows(
        df.loc[failed], STAGE, (f[0] for f in failures if f), (f[1] for f in failures if f)
    )
    kept = df.loc[~failed].reset_index(drop=True)
    check_conservation(STAGE, df["id"], kept["id"], rejected["id"])
    return kept, rejected


def filter_report(kept: pd.DataFrame, rejected: pd.DataFrame, config: FilterConfig) -> dict:
    """Which checks ran with which thresholds, and which were switched off: the counts mean
    nothing without them."""
    return {
        "checks": {name: getattr(config, name) for name in config.checks},
        "switched_off": sorted((set(CHECKS) | set(DATASET_CHECKS)) - set(config.checks)),
    }
