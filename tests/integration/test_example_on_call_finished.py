"""The event-driven example: the DAG parses with the watcher holding the trigger (and serializes as the DAG processor
stores it); the trigger's own events, made asset events as the triggerer makes them, run the consuming DAG under
``dag.test()``, which processes each call once even when one is delivered again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.triggers.finished_events import TelnyxScheduledEventFinishedTrigger
from tests.dagrun import activate_assets, load_dag, task_states
from tests.environment import API_KEY

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.telnyx_simulator(time_scale=1)]

DAG_ID = "example_telnyx_on_call_finished"
START = datetime(2031, 9, 1, 9, 0, tzinfo=timezone.utc)


def watched_asset(dag: Any) -> Any:
    (asset,) = dag.timetable.asset_condition.objects  # schedule=[asset]: AssetAll(asset) on every 3.x
    return asset


def test_the_dag_parses_and_its_watcher_holds_the_trigger() -> None:
    import airflow.serialization.serialized_objects as serialized

    # DagSerialization from Airflow 3.2; SerializedDAG before.
    serializer: Any = vars(serialized).get("DagSerialization") or vars(serialized)["SerializedDAG"]

    dag = load_dag(DAG_ID)
    asset = watched_asset(dag)
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, TelnyxScheduledEventFinishedTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert kwargs["assistant_id"] == "assistant-demo"
    assert kwargs["conversation_channel"] == "phone_call"
    stored = json.dumps(serializer.serialize_dag(dag), default=str)  # what the DAG processor stores
    assert classpath in stored
    assert API_KEY not in stored
    # A second parse gives the same trigger (Airflow keys a watcher's trigger on its kwargs).
    again = watched_asset(load_dag(DAG_ID)).watchers[0].trigger
    assert type(again).hash(*again.serialize()) == type(watcher.trigger).hash(classpath, kwargs)


def fired_by_the_watcher(simulator: Simulator, trigger: TelnyxScheduledEventFinishedTrigger, polls: int) -> list[Any]:
    """Run the example's own trigger for a few polls (the triggerer's part), return its payloads."""
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    trigger.clock = lambda: clock().timestamp()
    payloads: list[Any] = []
    sleeps = 0

    async def sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps >= polls:
            raise asyncio.CancelledError
        clock.advance(seconds)

    trigger.sleep = sleep

    async def go() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async for event in trigger.run():
                payloads.append(event.payload)

    asyncio.run(go())
    return payloads


@contextlib.contextmanager
def delivered(dag: Any, payloads: list[Any]) -> Iterator[None]:
    """Record ``payloads`` as asset events on the DAG's asset, as the triggerer does (``extra={"from_trigger": True,
    "payload": ...}``), and make them the triggering events of the next run of the DAG (the scheduler's part)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import event, select
    from sqlalchemy.orm import Session

    asset = watched_asset(dag)
    activate_assets(asset)
    with create_session() as session:
        model = session.scalar(select(AssetModel).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri))
        if model is None:
            model = AssetModel(name=asset.name, uri=asset.uri, group=asset.group, extra=asset.extra)
            session.add(model)
            session.flush()
        rows = [AssetEvent(asset_id=model.id, extra={"from_trigger": True, "payload": p}) for p in payloads]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]

    def link(session: Session, *_: Any) -> None:
        for run in [o for o in session.new if isinstance(o, DagRun) and o.dag_id == dag.dag_id]:
            with session.no_autoflush:
                run.consumed_asset_events = list(session.scalars(select(AssetEvent).where(AssetEvent.id.in_(ids))))

    event.listen(Session, "before_flush", link)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", link)


def test_the_consuming_dag_processes_each_finished_call_once(
    telnyx_simulator: Simulator, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "outcomes.db"
    monkeypatch.setenv("TELNYX_OUTCOMES_DB", str(database))
    dag = load_dag(DAG_ID)
    seed = telnyx_simulator.seed_event
    call = {"telnyx_conversation_channel": "phone_call", "telnyx_agent_target": "+13125550199"}
    answered = seed(
        "assistant-demo",
        {
            **call,
            "telnyx_end_user_target": "+13125550100",
            "scheduled_at_fixed_datetime": (START + timedelta(minutes=2)).isoformat(),
        },
    )
    failed = seed(
        "assistant-demo",
        {
            **call,
            "telnyx_end_user_target": "+13125550103",
            "scheduled_at_fixed_datetime": (START + timedelta(minutes=3)).isoformat(),
        },
    )
    watcher = watched_asset(dag).watchers[0].trigger
    payloads = fired_by_the_watcher(telnyx_simulator, watcher, polls=6)
    assert sorted(p["scheduled_event_id"] for p in payloads) == sorted([answered, failed])

    # Both calls in one run, one of them delivered twice (a triggerer restart within the look-back).
    with delivered(dag, [*payloads, payloads[0]]):
        run = dag.test()
    assert run.state == "success", task_states(run)
    ti = next(t for t in run.get_task_instances() if t.task_id == "record_outcomes")
    assert sorted(ti.xcom_pull(task_ids="record_outcomes")) == sorted([answered, failed])

    # A later run delivered the same call again: nothing new, nothing recorded twice.
    with delivered(dag, [payloads[1]]):
        again = dag.test()
    assert again.state == "success", task_states(again)
    ti = next(t for t in again.get_task_instances() if t.task_id == "record_outcomes")
    assert ti.xcom_pull(task_ids="record_outcomes") == []
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = dict(db.execute("SELECT scheduled_event_id, status FROM call_outcomes").fetchall())
    assert rows == {answered: "completed", failed: "failed"}
