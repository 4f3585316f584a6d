"""Triggerer restart: triggers cancelled mid-wait and re-created from ``serialize()``."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from tests.reliability.conftest import Report

ASSISTANT = "assistant-restart"
START = datetime(2031, 10, 1, 8, 0, tzinfo=timezone.utc)
TRIGGERS = 20


def test_restarted_triggers_resume_with_only_gets(telnyx_simulator: Simulator, report: Report) -> None:
    """Triggerer restart mid-wait (20 triggers)"""
    clock = ManualClock(START)
    telnyx_simulator.clock = clock
    hook = TelnyxHook()
    targets = ["+13125550100", "+13125550102", "+13125550104", "+13125550103"]
    expected = {}
    for i in range(TRIGGERS):
        target = targets[i % len(targets)]
        body = {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": target,
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": (START + timedelta(minutes=1)).isoformat(),
        }
        event_id = hook.create_scheduled_event(ASSISTANT, body).event_id
        expected[event_id] = "failed" if target in ("+13125550102", "+13125550103") else "completed"
    triggers = [
        TelnyxScheduledEventTrigger(assistant_id=ASSISTANT, scheduled_event_id=i, poll_interval=1) for i in expected
    ]

    async def old_triggerer() -> None:
        async def slow(_: float) -> None:
            await asyncio.sleep(0.02)

        for trigger in triggers:
            trigger.sleep = slow
        tasks = [asyncio.ensure_future(anext(aiter(t.run()))) for t in triggers]
        deadline = asyncio.get_running_loop().time() + 30
        while len(telnyx_simulator.journal) < TRIGGERS * 3:  # every trigger has polled its pending event twice
            assert asyncio.get_running_loop().time() < deadline, "the triggers never polled"
            await asyncio.sleep(0.02)
        for task in tasks:
            task.cancel()  # the triggerer process dies
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)

    asyncio.run(old_triggerer())
    polls_before = len(telnyx_simulator.journal) - TRIGGERS
    recovery_starts = len(telnyx_simulator.journal)

    async def new_triggerer() -> list[Any]:
        revived = [TelnyxScheduledEventTrigger(**t.serialize()[1]) for t in triggers]

        async def advance(_: float) -> None:
            clock.advance(120)
            await asyncio.sleep(0)

        for trigger in revived:
            trigger.sleep = advance

        async def first(t: TelnyxScheduledEventTrigger) -> Any:
            async for event in t.run():
                return event.payload
            return None

        return await asyncio.gather(*(first(t) for t in revived))

    payloads = asyncio.run(new_triggerer())
    recovery = telnyx_simulator.journal[recovery_starts:]
    methods = Counter(entry.method for entry in recovery)
    right = sum(p["status"] == "final" and p["event"]["status"] == expected[p["event_id"]] for p in payloads)
    report.record(
        triggers=TRIGGERS,
        polls_before_the_restart=polls_before,
        requests_during_recovery=dict(methods),
        right_outcomes=f"{right}/{TRIGGERS}",
        events_created_twice=telnyx_simulator.stats()["events_created"] - TRIGGERS,
    )
    assert polls_before >= TRIGGERS
    assert right == TRIGGERS
    assert set(methods) == {"GET"}
    assert telnyx_simulator.stats()["events_created"] == TRIGGERS
