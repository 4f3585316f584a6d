"""Drive operators and sensors the way Airflow does, in-process, against the real simulator.

``FakeTI`` and ``context`` stand in for the task runner's task instance (XCom pushes are recorded, the task
state store is a dict); ``run_sensor`` reproduces what Airflow does in each mode: poke (the sensor's own loop),
reschedule (every poke a new process: ``execute`` of a new copy of the sensor as the DAG file defines it, after
each ``AirflowRescheduleException``, sharing only the task state store) and deferrable (run the trigger in an
event loop, then ``resume_execution`` on a new copy, as a worker does). What happens inside the operator,
trigger, hook and simulator is the real code.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_provider_telnyx._compat import (
    AIRFLOW_V_3_3_PLUS,
    AirflowRescheduleException,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_telnyx.testing.clock import ManualClock

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, BaseSensorOperator, Context, PokeReturnValue
    from pydantic import JsonValue

    from airflow_provider_telnyx.triggers.scheduled_event import (
        TelnyxScheduledEventsTrigger,
        TelnyxScheduledEventTrigger,
    )

#: The ``simulator_connection`` fixture: ``(conn_id="telnyx_default", *, password=None, **extra) -> fields``.
SimulatorConnection = Callable[..., dict[str, Any]]


class DictStateStore:
    """The task state store's interface over a dict (survives between "tries" of a test)."""

    def __init__(self) -> None:
        self.data: dict[str, JsonValue] = {}

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self.data.get(key, default)

    def set(self, key: str, value: JsonValue, **_: object) -> None:
        self.data[key] = value


@dataclass
class FakeTI:
    dag_id: str = "dag_a"
    run_id: str = "manual__2031-01-01T00:00:00+00:00"
    task_id: str = "task_a"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    stats_tags: dict[str, str] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)  # what this task instance pushed (the only XComs a FakeTI holds)

    def get_first_reschedule_date(self, context: Context) -> None:
        return None


def context(ti: FakeTI | None = None, store: DictStateStore | None = None) -> Context:
    """The task context the operators are given: ``ti`` (a new ``FakeTI`` if none) and the task state store."""
    # The one place a test double stands in for Airflow's objects: the task runner's Context holds a
    # RuntimeTaskInstance and a TaskStateStoreAccessor (or none before Airflow 3.3); FakeTI and DictStateStore
    # implement the parts of them the package uses (XCom, identity, get/set), not the whole protocols.
    return cast("Context", {"ti": ti or FakeTI(), "task_state_store": store})


@dataclass
class Outcome:
    """What a task run ended with: its state, return value and exception class."""

    state: str
    value: Any = None
    error: type[BaseException] | None = None
    message: str = ""


def settle(run: Callable[[], object]) -> Outcome:
    try:
        return Outcome("success", run())
    except AirflowSkipException as error:
        return Outcome("skipped", error=type(error), message=str(error))
    except Exception as error:
        return Outcome("failed", error=type(error), message=str(error))


def run_deferred(
    task: BaseOperator, deferred: TaskDeferred, ctx: Context, between_polls: Callable[[], object] = lambda: None
) -> Any:
    """Run the trigger to its event (as the triggerer does), then resume the task (as a worker does)."""
    # Every deferral of this package's tasks is to one of these (Airflow leaves TaskDeferred.trigger untyped).
    trigger: TelnyxScheduledEventTrigger | TelnyxScheduledEventsTrigger = deferred.trigger
    polls = {"count": 0}

    async def instead_of_sleeping(_: float) -> None:
        polls["count"] += 1
        assert polls["count"] < 1000, "the trigger never yielded"
        between_polls()
        await asyncio.sleep(0)

    trigger.sleep = instead_of_sleeping

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    payload = asyncio.run(first_event())
    # As the task runner does: the deferral's kwargs (its next_kwargs) with the trigger's event.
    return task.resume_execution(deferred.method_name, {**(deferred.kwargs or {}), "event": payload}, ctx)


def run_sensor(
    sensor: BaseSensorOperator,
    mode: str,
    clock: ManualClock | None = None,
    step: float = 3600,
) -> Outcome:
    """Run a sensor to its end in ``poke``, ``reschedule`` or ``deferrable`` mode.

    ``sensor`` is the task as the DAG file defines it (never run itself): every process of the run (each
    reschedule poke, the resume after a deferral) runs a new copy of it, sharing only the task state store (on
    Airflow 3.3+, which has one) and the task instance, as a real deployment does.

    When a simulator clock is given, it moves ``step`` seconds forward once, after the first check, so an event
    that is pending at first becomes final while the sensor waits.
    """
    ctx = context(store=DictStateStore() if AIRFLOW_V_3_3_PLUS else None)
    sensor.deferrable = mode == "deferrable"
    sensor.mode = "reschedule" if mode == "reschedule" else "poke"
    sensor.poke_interval = 0.01
    moved = {"done": False}

    def move_time_once() -> None:
        if clock is not None and not moved["done"]:
            moved["done"] = True
            clock.advance(step)

    def new_process() -> BaseSensorOperator:
        task = copy.deepcopy(sensor)
        original = task.poke

        def poke_then_move_time(context_: Context) -> bool | PokeReturnValue:
            result = original(context_)
            move_time_once()
            return result

        # This process's poke, then time moves: an instance attribute shadowing the method (mypy checks the
        # assignment against the class's unbound poke, self included, hence "assignment" too).
        task.poke = poke_then_move_time  # type: ignore[method-assign, assignment]
        return task

    def drive() -> Any:
        for _ in range(100):
            try:
                return new_process().execute(ctx)
            except AirflowRescheduleException:
                continue
            except TaskDeferred as deferred:
                return run_deferred(new_process(), deferred, ctx, move_time_once)
        raise AssertionError("the sensor never finished")

    return settle(drive)


#: For tests of reattaching through Airflow's task state store, which exists (with ``ResumableJobMixin``) from 3.3;
#: on older Airflow the operators reattach by their tags and key, checked by the tag-lookup tests on every version.
needs_task_state_store = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="the task state store exists from Airflow 3.3 (older versions reattach by tags)"
)
