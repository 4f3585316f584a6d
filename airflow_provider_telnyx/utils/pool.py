"""Running many jobs at once with flat memory, and a progress line at a steady cadence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Progress", "run_pool"]

_T = TypeVar("_T")


@dataclass
class Progress:
    """Counters of a batch, and the progress line logged at a steady cadence.

    :param total: items in the batch.
    :param clock: monotonic clock.
    :param done: items handled so far.
    :param created: items created by this try.
    :param reused: items an earlier try had created.
    :param errors: items that could not be created.
    :param started: when the batch started (set from ``clock``).
    """

    total: int
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    created: int = 0
    reused: int = 0
    errors: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def line(self) -> str:
        """``done/total (pct), rate, ETA, errors`` as one short line."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 and left else "-"
        share = 100 * self.done / self.total if self.total else 100.0
        return (
            f"{self.done}/{self.total} ({share:.0f}%), {rate:.1f}/s, ETA {eta}, "
            f"{self.created} created, {self.reused} already there, {self.errors} errors"
        )


async def run_pool(
    jobs: Iterable[_T],
    work: Callable[[_T], Awaitable[None]],
    *,
    concurrency: int,
    progress: Progress | None = None,
    log: logging.Logger | None = None,
    progress_interval: float = 10.0,
) -> None:
    """Run ``work`` over ``jobs`` with at most ``concurrency`` at a time, pulling jobs lazily (flat memory).

    :param jobs: the jobs; consumed as workers become free.
    :param work: the coroutine for one job (it handles its own errors).
    :param concurrency: workers.
    :param progress: counters to log.
    :param log: where progress lines go.
    :param progress_interval: seconds between progress lines.
    """
    iterator = iter(jobs)

    async def worker() -> None:
        for job in iterator:  # a shared iterator: each job is taken by exactly one worker
            await work(job)

    reporter = asyncio.create_task(_report(progress, log, progress_interval)) if progress and log else None
    try:
        await asyncio.gather(*(worker() for _ in range(max(concurrency, 1))))
    finally:
        if reporter is not None:
            reporter.cancel()
            with suppress(asyncio.CancelledError):
                await reporter


async def _report(progress: Progress, log: logging.Logger, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        log.info("Batch progress: %s", progress.line())
