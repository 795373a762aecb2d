"""The one parallel-map helper every long loop over images goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int = 2,
    chunksize: int = 16,
    desc: str = "",
) -> Iterator[R]:
    """Yield fn(item) in input order, over a process pool, with a progress bar.

    Results stream back in order, so a caller that writes them as they come holds only a
    chunk at a time; `fn` must be a module-level function and should return small values
    (paths and numbers), not pixels. workers <= 1 runs in this process, which keeps
    tracebacks readable while debugging.
    """
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=None, mininterval=1.0)
    try:
        if workers <= 1 or len(items) <= chunksize:
            results: Iterable[R] = map(fn, items)
            for result in results:
                bar.update()
                yield result
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(fn, items, chunksize=chunksize):
                bar.update()
                yield result
    finally:
        bar.close()
