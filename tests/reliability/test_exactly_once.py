"""Exactly once under lost responses: the simulator commits creates but loses 30% of the responses."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from tests.dagrun import TEST_DAGS, load_dag
from tests.harness import SimulatorConnection
from tests.reliability.conftest import Report

pytestmark = pytest.mark.long_running

ASSISTANT = "assistant-once"
CREATES = 250


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


@pytest.mark.telnyx_simulator(faults=Faults(lose_create_rate=0.3), seed=11)
async def test_hook_creates_with_keys_exist_exactly_once(telnyx_simulator: Simulator, report: Report) -> None:
    """Exactly once: 250 hook creates with 30% of responses lost"""
    at = datetime.now(timezone.utc) + timedelta(hours=2)
    hook = TelnyxHook(max_retries=8, async_sleep=_no_wait)
    limit = asyncio.Semaphore(25)

    async def create(i: int) -> str:
        body = {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": f"+1312555{3000 + i:04d}",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": at.isoformat(),
            "conversation_metadata": {"item": i},
        }
        async with limit:
            event = await hook.acreate_scheduled_event(ASSISTANT, body, idempotency_key=f"once-{i}")
        return event.event_id

    ids = await asyncio.gather(*(create(i) for i in range(CREATES)))
    await hook.aclose()
    stored = Counter(event["conversation_metadata"]["item"] for event in telnyx_simulator.events(ASSISTANT))
    duplicates = sum(count - 1 for count in stored.values())
    losses = CREATES - len(stored)
    stats = telnyx_simulator.stats()
    lost = stats.get("faults_lost_response_502", 0) + stats.get("faults_lost_response_dropped", 0)
    report.record(
        creates=CREATES,
        responses_lost=lost,
        lost_as_502=stats.get("faults_lost_response_502", 0),
        lost_as_dropped_connection=stats.get("faults_lost_response_dropped", 0),
        idempotent_replays=stats.get("idempotent_replays", 0),
        duplicates=duplicates,
        losses=losses,
    )
    assert lost >= CREATES * 0.2  # the fault really happened
    assert (duplicates, losses) == (0, 0)
    assert len(set(ids)) == CREATES
    assert {event["scheduled_event_id"] for event in telnyx_simulator.events(ASSISTANT)} == set(ids)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.telnyx_simulator(faults=Faults(lose_create_rate=0.3), seed=5)
def test_mapped_tasks_with_retries_create_each_event_once(
    telnyx_simulator: Simulator, report: Report, simulator_connection: SimulatorConnection
) -> None:
    """Exactly once: 20 mapped create tasks under dag.test() with task retries"""
    simulator_connection("telnyx_no_retries", max_retries=0)
    run = load_dag("reliability_mapped_creates", TEST_DAGS, "reliability_mapped").test()
    tis = run.get_task_instances()
    events = telnyx_simulator.events("assistant-mapped")
    per_index = Counter(event["conversation_metadata"]["airflow_map_index"] for event in events)
    stats = telnyx_simulator.stats()
    lost = stats.get("faults_lost_response_502", 0) + stats.get("faults_lost_response_dropped", 0)
    tries: Counter[int] = Counter(ti.try_number for ti in tis)
    report.record(
        mapped_tasks=len(tis),
        responses_lost=lost,
        task_tries=dict(sorted(tries.items())),
        duplicates=sum(count - 1 for count in per_index.values()),
        losses=20 - len(per_index),
    )
    assert {ti.state for ti in tis} == {"success"}
    assert len(tis) == 20
    assert lost >= 1
    assert sorted(per_index) == list(range(20))
    assert set(per_index.values()) == {1}
    assert stats["events_created"] == 20
