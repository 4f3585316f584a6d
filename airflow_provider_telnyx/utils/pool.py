"""Running many jobs at once with flat memory, a hook paced by the adaptive rate limiter, and a progress line at a
steady cadence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.utils.rate_limit import AdaptiveRateLimiter, Answer

__all__ = ["Progress", "paced_hook", "run_pool"]

_T = TypeVar("_T")


def paced_hook(
    telnyx_conn_id: str, *, requests_per_second: float | None, max_in_flight: int, known_limit: int | None = None
) -> tuple[TelnyxHook, AdaptiveRateLimiter]:
    """An async-side hook whose every request (retries included) waits for the rate limiter, and the limiter,
    fed with every answer the hook sees (``x-ratelimit-*`` headers, 429s, ``Retry-After``, latency).

    :param telnyx_conn_id: the connection.
    :param requests_per_second: a fixed rate; ``None`` adapts to the API's answers.
    :param max_in_flight: the most requests in flight at once.
    :param known_limit: a limit the API already announced (to an earlier hook of the same task); without its window
        it only caps the rate until the answers show the window.
    :return: the hook (close it with ``aclose``) and its limiter.
    """
    limiter = AdaptiveRateLimiter(requests_per_second, max_in_flight=max_in_flight)
    hook = TelnyxHook(telnyx_conn_id=telnyx_conn_id, pace=limiter.pace)
    if known_limit:
        limiter.observe(Answer(200, limit=known_limit))
    hook.rate_limit.listeners.append(limiter.observe)
    return hook, limiter


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
    limiter: AdaptiveRateLimiter | None = None,
    progress: Progress | None = None,
    log: logging.Logger | None = None,
    progress_interval: float = 10.0,
) -> None:
    """Run ``work`` over ``jobs`` with at most ``concurrency`` at a time, pulling jobs lazily (flat memory).

    :param jobs: the jobs; consumed as workers become free.
    :param work: the coroutine for one job (it handles its own errors).
    :param concurrency: workers.
    :param limiter: each job also waits for a place among the limiter's requests in flight (its concurrency,
        sized from the rate and latency it observes), held until the job ends.
    :param progress: counters to log.
    :param log: where progress lines go.
    :param progress_interval: seconds between progress lines.
    """
    iterator = iter(jobs)

    async def worker() -> None:
        for job in iterator:  # a shared iterator: each job is taken by exactly one worker
            if limiter is None:
                await work(job)
                continue
            await limiter.enter()
            try:
                await work(job)
            finally:
                limiter.leave()

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
