"""The one way many requests run (utils/pool.py), directly: bounded, lazy, in order when asked, errors ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from airflow_provider_telnyx.utils.pool import Progress, Turn, paced_hook, reporting, run_bounded
from airflow_provider_telnyx.utils.rate_limit import AdaptiveRateLimiter


class Gate:
    """Jobs that finish when the test says so, and a record of how many ran at once."""

    def __init__(self) -> None:
        self.release: dict[int, asyncio.Event] = {}
        self.running = 0
        self.most = 0
        self.started: list[int] = []

    async def work(self, job: int, turn: Turn) -> int:
        self.started.append(job)
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.setdefault(job, asyncio.Event()).wait()
        self.running -= 1
        return job * 10

    def open(self, *jobs: int) -> None:
        for job in jobs:
            self.release.setdefault(job, asyncio.Event()).set()


async def settle() -> None:
    """Let every ready task run (a bounded number of loop turns, no clock)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def collect(results: AsyncIterator[int]) -> list[int]:
    return [result async for result in results]


async def test_unordered_results_come_as_they_complete_with_at_most_window_running() -> None:
    gate = Gate()
    task = asyncio.create_task(collect(run_bounded(range(6), gate.work, window=2)))
    await settle()
    assert gate.started == [0, 1]  # jobs are pulled only as places free up
    gate.open(1)
    await settle()
    gate.open(0, 2, 3, 4, 5)
    assert await task == [10, 0, 20, 30, 40, 50]
    assert gate.most == 2


async def test_ordered_results_keep_the_jobs_order_and_only_the_head_has_its_turn() -> None:
    turns: dict[int, bool] = {}
    release = asyncio.Event()

    async def work(job: int, turn: Turn) -> int:
        turns[job] = turn._event.is_set()
        if job == 0:
            await release.wait()  # the head is slow: the others finish first but wait their turn to be handed on
        else:
            await turn.wait()
        return job

    task = asyncio.create_task(collect(run_bounded(range(4), work, window=3, ordered=True)))
    await settle()
    assert turns == {0: True, 1: False, 2: False}
    release.set()
    assert await task == [0, 1, 2, 3]


async def test_a_turn_gives_the_limiters_place_back_while_it_waits() -> None:
    limiter = AdaptiveRateLimiter(1000.0, max_in_flight=1)
    order: list[str] = []
    release = asyncio.Event()

    async def work(job: int, turn: Turn) -> int:
        order.append(f"start {job}")
        if job == 0:
            await release.wait()
        else:
            await turn.wait()
        return job

    task = asyncio.create_task(collect(run_bounded(range(2), work, window=2, ordered=True, limiter=limiter)))
    await settle()
    assert order == ["start 0"]  # one place: job 1 waits to enter
    release.set()
    assert await task == [0, 1]
    assert limiter.in_flight == 0


async def test_an_error_ends_the_run_and_cancels_the_others() -> None:
    cancelled: list[int] = []

    async def work(job: int, turn: Turn) -> int:
        if job == 1:
            raise RuntimeError("boom")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(job)
            raise
        return job

    with pytest.raises(RuntimeError, match="boom"):
        await collect(run_bounded(range(3), work, window=3))
    assert sorted(cancelled) == [0, 2]


async def test_async_iterables_are_consumed_lazily() -> None:
    pulled: list[int] = []

    async def jobs() -> AsyncIterator[int]:
        for job in range(100):
            pulled.append(job)
            yield job

    async def work(job: int, turn: Turn) -> int:
        return job

    results = run_bounded(jobs(), work, window=2)
    assert await anext(results) in (0, 1)
    assert len(pulled) <= 3
    await results.aclose()


def test_progress_line_counts_and_eta() -> None:
    ticks: Iterator[float] = iter([0.0, 10.0])
    progress = Progress(total=100, clock=lambda: next(ticks))
    progress.done, progress.created, progress.reused, progress.errors = 50, 40, 8, 2
    assert progress.line() == "50/100 (50%), 5.0/s, ETA 10s, 40 created, 8 already there, 2 errors"


async def test_reporting_logs_at_its_cadence_and_stops() -> None:
    lines: list[str] = []

    class Log:
        def info(self, message: str, *args: object) -> None:
            lines.append(message % args)

    progress = Progress(total=1)
    async with reporting(progress, Log(), 0):  # an interval of 0: a line each loop turn, no clock involved
        await settle()
    count = len(lines)
    await settle()
    assert count >= 1
    assert len(lines) == count  # nothing after the block
    assert lines[0].startswith("Batch progress: 0/1")


@pytest.mark.telnyx_simulator(faults=Faults(rate_limit=1000))
async def test_a_paced_hook_takes_a_slot_before_every_request_and_its_limiter_hears_every_answer(
    telnyx_simulator: Simulator,
) -> None:
    event_id = telnyx_simulator.seed_event(
        "assistant-1",
        {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": "2031-06-01T10:00:00+00:00",
        },
    )
    hook, limiter = paced_hook("telnyx_default", requests_per_second=None, max_in_flight=4, known_limit=50)
    assert (limiter.limit, limiter.window, limiter.max_in_flight) == (50, None, 4)  # a cap until a window is known
    slots: list[float] = []
    reserve = limiter.reserve

    def counted(*, again: bool = False) -> float:
        slots.append(reserve(again=again))
        return slots[-1]

    limiter.reserve = counted  # type: ignore[method-assign]
    try:
        for _ in range(3):
            assert (await hook.aget_scheduled_event("assistant-1", event_id)).event_id == event_id
    finally:
        await hook.aclose()
    assert len(slots) == len(telnyx_simulator.journal) == 3  # one slot per request sent
    assert limiter.limit == 1000  # the simulator's x-ratelimit-limit reached it, replacing the known 50
    assert hook.rate_limit.responses == 3
