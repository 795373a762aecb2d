"""CPU time for benchmarks: the machine's wall clock drifts up to 2x between runs, so tools are
compared by user + sys seconds, with their worker processes counted."""

from __future__ import annotations

import resource


def cpu_seconds() -> float:
    """user + sys of this process and its finished children (the pools' workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
