"""Creating many events fast and safely: a client-side rate limiter, a bounded worker pool and progress lines.

The limiter is ``aiolimiter``'s leaky bucket, sized so that no one-second window can exceed the API's limit:
the rate is 95% of ``x-ratelimit-limit`` (or the rate you fix) and the bucket holds only 50 ms of it, so a
burst never crosses the limit. Without a fixed rate it adapts: it starts modestly, follows the limit the API
announces, and backs off by a fifth after every 429 before creeping back up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

from aiolimiter import AsyncLimiter

from airflow_provider_telnyx.hooks.telnyx import RateLimitObservation

__all__ = ["AdaptiveRateLimiter", "Progress", "run_pool"]

_T = TypeVar("_T")

HEADROOM = 0.95
BURST_SECONDS = 0.05
BACKOFF = 0.8
RECOVERY = 1.05
INITIAL_RATE = 20.0
MIN_RATE = 1.0
QUANTUM = 0.04


class AdaptiveRateLimiter:
    """A rate limiter that stays just under the API's limit.

    :param requests_per_second: a fixed rate; ``None`` adapts to ``x-ratelimit-limit`` and 429 answers.
    :param initial_rate: the adaptive limiter's rate before the API has announced its limit.
    """

    def __init__(self, requests_per_second: float | None = None, *, initial_rate: float = INITIAL_RATE) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.fixed = requests_per_second is not None
        self._ceiling = float("inf")
        self._throttled_seen = 0
        self._responses_seen = 0
        self.rate = 0.0
        self._limiter: AsyncLimiter
        self._set_rate(requests_per_second if requests_per_second is not None else initial_rate)

    def _set_rate(self, rate: float) -> None:
        rate = max(rate, MIN_RATE)
        if self.rate and abs(rate - self.rate) <= QUANTUM * self.rate:
            return  # a new bucket starts empty (a small burst), so only change for a real difference
        self.rate = rate
        period = max(BURST_SECONDS, 1 / rate)
        self._limiter = AsyncLimiter(max_rate=rate * period, time_period=period)

    async def acquire(self) -> None:
        """Wait for the next request's turn (under the rate in force when the turn comes)."""
        while True:
            limiter = self._limiter
            await limiter.acquire()
            if limiter is self._limiter:  # released by a bucket that was replaced meanwhile: queue again
                return

    def update(self, observation: RateLimitObservation) -> None:
        """Adapt to what the API said since the last call (no-op for a fixed rate).

        :param observation: the hook's rate-limit observation.
        """
        if self.fixed:
            return
        new_throttles = observation.throttled - self._throttled_seen
        new_answers = observation.responses - self._responses_seen
        self._throttled_seen = observation.throttled
        self._responses_seen = observation.responses
        target = HEADROOM * observation.limit if observation.limit else self.rate * RECOVERY
        if new_throttles > 0:
            self._ceiling = self.rate * BACKOFF
        elif new_answers > 0 and self._ceiling != float("inf"):
            self._ceiling *= RECOVERY ** min(new_answers / 100, 1)
        self._set_rate(min(target, self._ceiling))


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
        """``done/total (pct), rate, ETA, errors`` as one short line.

        :return: the line.
        """
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
