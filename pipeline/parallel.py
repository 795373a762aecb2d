"""The one parallel-map helper every long loop over images goes through.

Two backends, chosen per run (`parallel_backend`), with the same results in the same order:
a local process pool, or a Dask cluster (dask.distributed) for work larger than one machine.
Which one ran is not a parameter of any output: the bytes written are the same.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, TypeVar

from tqdm import tqdm

from pipeline.errors import MasksetError

T = TypeVar("T")
R = TypeVar("R")
# Dask chunks a worker gets over a whole list: fewer cost less scheduling, more leave less
# idle time at the end, when the last chunks run on some workers while others have none
CHUNKS_PER_WORKER = 24
# chunks submitted ahead of the one whose results are due next: results are taken in order,
# so with too few a worker done with its chunks waits for a slower one's (their results are
# small, so the window costs little memory)
IN_FLIGHT_PER_WORKER = 6


@dataclass(frozen=True)
class ParallelConfig:
    """params.yaml `parallel`: where the per-image stages run their work."""

    backend: Literal["process", "dask"] = "process"
    # dask: an existing scheduler (tcp://host:8786); None starts a LocalCluster of `workers`
    address: str | None = None


_BACKEND: ContextVar[ParallelConfig | None] = ContextVar("parallel_backend", default=None)


@contextmanager
def parallel_backend(config: ParallelConfig) -> Iterator[None]:
    """Every parallel_map inside the block runs on `config`'s backend (as joblib's
    parallel_backend does), so the stage functions need not carry it."""
    token = _BACKEND.set(config)
    try:
        yield
    finally:
        _BACKEND.reset(token)


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int = 2,
    chunksize: int = 16,
    desc: str = "",
) -> Iterator[R]:
    """Yield fn(item) in input order, with a progress bar.

    Results stream back in order, so a caller that writes them as they come holds only a
    few chunks at a time; `fn` must be picklable (a module-level function or a partial of
    one) and should return small values (paths and numbers), not pixels. workers <= 1 runs
    in this process, which keeps tracebacks readable while debugging; so does a list no
    longer than one chunk, where starting workers would cost more than the work.
    """
    config = _BACKEND.get() or ParallelConfig()
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=None, mininterval=1.0)
    try:
        serial = len(items) <= chunksize or (workers <= 1 and config.address is None)
        if serial:
            results: Iterable[R] = map(fn, items)
        elif config.backend == "dask":
            results = _dask_map(fn, items, workers, chunksize, config.address)
        else:
            results = _pool_map(fn, items, workers, chunksize)
        for result in results:
            bar.update()
            yield result
    finally:
        bar.close()


def _pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int, chunksize: int) -> Iterator[R]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _dask_map(
    fn: Callable[[T], R], items: Sequence[T], workers: int, chunksize: int, address: str | None
) -> Iterator[R]:
    """Chunks submitted to the cluster, a bounded window of them in flight (so memory does
    not grow with the list), results taken back in submission order. Chunks are larger than
    the pool's (CHUNKS_PER_WORKER a worker over the whole list): each Dask task costs scheduling and a
    round trip, and `fn` is sent to the workers once, not with every chunk."""
    import dask
    from dask.distributed import Client, LocalCluster

    with ExitStack() as stack:
        if address is None:
            # forked workers start with the stage's modules imported (spawned ones spend
            # seconds importing dlib, OpenCV and pandas again), as the process pool's do
            # and without Dask's sampling profiler, which walks every task's stack every 10 ms
            settings = {
                "distributed.worker.multiprocessing-method": "fork",
                "distributed.worker.profile.enabled": False,
            }
            stack.enter_context(dask.config.set(settings))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout=5))
            except OSError as exc:
                raise MasksetError(
                    f"parallel.address {address}: no Dask scheduler answered ({exc}); start one "
                    "(`dask scheduler`) or set parallel.backend: process"
                ) from None
        running = max(1, len(client.nthreads()) if address else workers)
        size = max(chunksize, math.ceil(len(items) / (CHUNKS_PER_WORKER * running)))
        chunks = (items[i : i + size] for i in range(0, len(items), size))
        [shared] = client.scatter([fn], broadcast=True)
        first = itertools.islice(chunks, IN_FLIGHT_PER_WORKER * running)
        window = deque(client.submit(_run_chunk, shared, c, pure=False) for c in first)
        while window:
            done = window.popleft().result()
            following = next(chunks, None)
            if following is not None:
                window.append(client.submit(_run_chunk, shared, following, pure=False))
            yield from done
