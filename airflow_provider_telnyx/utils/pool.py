"""Running many requests at once (:func:`run_bounded`: flat memory, results as they come or in order), a hook paced by
the adaptive rate limiter, and a progress line at a steady cadence."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_telnyx.hooks.telnyx import RateLimitAnswer, TelnyxHook
from airflow_provider_telnyx.utils.rate_limit import AdaptiveRateLimiter

__all__ = ["Progress", "Turn", "paced_hook", "reporting", "run_bounded"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def paced_hook(
    telnyx_conn_id: str, *, requests_per_second: float | None, max_in_flight: int, known_limit: int | None = None
) -> tuple[TelnyxHook, AdaptiveRateLimiter]:
    """An async-side hook whose every request (retries included) waits for the rate limiter, and the limiter,
    fed with every answer the hook sees (``x-ratelimit-*`` headers, 429s, ``Retry-After``, latency).

    :param telnyx_conn_id: the connection.
    :param requests_per_second: a fixed rate; ``None`` adapts to the API's answers.
    :param max_in_flight: the most items' requests in flight at once (the hook keeps one more connection open, for
        a listing page read beside them).
    :param known_limit: a limit the API already announced (to an earlier hook of the same task); without its window
        it only caps the rate until the answers show the window.
    :return: the hook (close it with ``aclose``) and its limiter.
    """
    limiter = AdaptiveRateLimiter(requests_per_second, max_in_flight=max_in_flight)
    # One connection kept alive per request in flight: the items' requests, and a listing page read beside them
    # (the export's and the delete selection's listings run outside the limiter's places).
    hook = TelnyxHook(telnyx_conn_id=telnyx_conn_id, pace=limiter.pace, max_connections=max_in_flight + 1)
    if known_limit:
        limiter.observe(RateLimitAnswer(200, limit=known_limit))
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


class Turn:
    """A job's turn in :func:`run_bounded`: whether its result is the next one handed on (ordered runs only; an
    unordered job always has its turn).

    :param limiter: the limiter whose place the job holds (given back while it waits for its turn).
    :param now: the turn is already this job's.
    """

    def __init__(self, limiter: AdaptiveRateLimiter | None, *, now: bool) -> None:
        self._limiter = limiter
        self._event = asyncio.Event()
        if now:
            self._event.set()

    def come(self) -> None:
        """Make it this job's turn."""
        self._event.set()

    async def wait(self) -> None:
        """Wait for this job's turn, giving back its place among the requests in flight meanwhile (the job whose
        result is needed next may need it)."""
        if self._event.is_set():
            return
        if self._limiter is not None:
            self._limiter.leave()
        try:
            await self._event.wait()
        finally:
            if self._limiter is not None:
                await self._limiter.enter()


async def run_bounded(
    jobs: Iterable[_T] | AsyncIterable[_T],
    work: Callable[[_T, Turn], Awaitable[_R]],
    *,
    window: int,
    ordered: bool = False,
    limiter: AdaptiveRateLimiter | None = None,
) -> AsyncGenerator[_R, None]:
    """Run ``work`` over ``jobs`` with at most ``window`` running at once, pulling jobs lazily (flat memory), and
    yield each result: as it completes, or in the jobs' order when ``ordered`` (a slow job then holds the ones
    behind it in the window). The one way this package runs many requests: the batch, the export, the deletes.

    :param jobs: the jobs, a (sync or async) iterable consumed as places free up.
    :param work: one job's coroutine, given its :class:`Turn`; it handles its own errors (an exception it raises
        ends the run and is raised here, after the others are cancelled).
    :param window: the most jobs running at once.
    :param ordered: yield results in the jobs' order.
    :param limiter: each job also holds a place among the limiter's requests in flight (its concurrency, sized from
        the rate and latency it observes) while it runs.
    """
    source = _aiter(jobs)
    running: deque[tuple[asyncio.Task[_R], Turn]] = deque()

    async def one(job: _T, turn: Turn) -> _R:
        if limiter is None:
            return await work(job, turn)
        await limiter.enter()
        try:
            return await work(job, turn)
        finally:
            limiter.leave()

    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < max(window, 1):
                try:
                    job = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    break
                turn = Turn(limiter, now=not ordered or not running)
                running.append((asyncio.create_task(one(job, turn)), turn))
            if not running:
                return
            if ordered:
                task, _ = running[0]
                result = await task
                running.popleft()
                if running:
                    running[0][1].come()
                yield result
                continue
            done, _ = await asyncio.wait([task for task, _ in running], return_when=asyncio.FIRST_COMPLETED)
            for finished in [entry for entry in running if entry[0] in done]:
                running.remove(finished)
                yield finished[0].result()
    finally:
        for task, _ in running:
            task.cancel()
        await asyncio.gather(*(task for task, _ in running), return_exceptions=True)


async def _aiter(jobs: Iterable[_T] | AsyncIterable[_T]) -> AsyncIterator[_T]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job


@asynccontextmanager
async def reporting(progress: Progress, log: Any, interval: float) -> AsyncIterator[None]:
    """Log ``progress`` every ``interval`` seconds while the block runs.

    :param progress: the counters.
    :param log: where the lines go (a stdlib or structlog logger).
    :param interval: seconds between lines.
    """
    reporter = asyncio.create_task(_report(progress, log, interval))
    try:
        yield
    finally:
        reporter.cancel()
        with suppress(asyncio.CancelledError):
            await reporter


async def _report(progress: Progress, log: Any, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        log.info("Batch progress: %s", progress.line())
