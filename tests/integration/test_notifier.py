"""``TelnyxNotifier`` in real Airflow runs (``dag.test()``) against the simulator: task, retry and DAG callbacks,
a callback run twice, notifications that cannot be sent, and secrets."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_telnyx._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_telnyx.notifications.telnyx import TelnyxNotifier
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from tests.dagrun import TEST_DAGS, load_dag, task_states
from tests.harness import SimulatorConnection

pytestmark = pytest.mark.usefixtures("airflow_db")
ASSISTANT_ID = "assistant-demo"
#: ``dag.test()`` puts the task's exception in the failure callback's context from Airflow 3.3 on (the task runner
#: of a real deployment does on every version); before, the ``reason`` variable of a ``dag.test()`` run is empty.
DAG_TEST_PASSES_THE_EXCEPTION = AIRFLOW_V_3_3_PLUS


def reason(text: str) -> str:
    return text if DAG_TEST_PASSES_THE_EXCEPTION else ""


def run_dag(dag_id: str) -> Any:
    return load_dag(dag_id, TEST_DAGS, "notifier_dags").test()


#: Airflow 3.0's ``dag.test()`` runs a task with an in-process supervisor whose comms log every message at DEBUG,
#: the ``MaskSecret`` Airflow itself sends for each connection password included (fixed in 3.1; a deployed worker's
#: supervisor does not log it). Those lines are Airflow's own, for any connection: they are left out of what is
#: searched for the key, and docs/security.md says so.
_AIRFLOW_30_TEST_COMMS = re.compile(r"^.*Sending request\s+msg=MaskSecret\(.*$", re.MULTILINE)


def captured(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out, err = capsys.readouterr()
    return _AIRFLOW_30_TEST_COMMS.sub("", out + err + "\n\x00caplog\x00\n" + caplog.text)


def logged_times(logs: str, text: str) -> int:
    """How many times ``text`` was logged (Airflow 3.0 sends a record both to stdout and to the logging tree)."""
    printed, _, tree = logs.partition("\x00caplog\x00")
    return max(printed.count(text), tree.count(text))


def creates(simulator: Simulator) -> list[tuple[int, str | None]]:
    return [(e.status, e.fault) for e in simulator.journal if e.route == "create"]


def test_example_dag_pages_the_oncall_with_one_sms(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's acceptance: a failing task with ``on_failure_callback=TelnyxNotifier(...)`` creates exactly one
    SMS event with the rendered text, the task stays failed, and the API key is in no log."""
    run = load_dag("example_telnyx_notify_on_failure").test()
    assert task_states(run) == {"load_orders": "failed"}
    assert run.state == "failed"
    (event,) = telnyx_simulator.events()
    assert event["telnyx_conversation_channel"] == "sms_chat"
    assert event["telnyx_end_user_target"] == "+13125550110"
    assert event["text"] == (f"Task load_orders of example_telnyx_notify_on_failure failed (run {run.run_id}, try 1)")
    assert event["dynamic_variables"] == {
        "dag_id": "example_telnyx_notify_on_failure",
        "run_id": run.run_id,
        "task_id": "load_orders",
        "map_index": "-1",
        "try_number": "1",
        "callback_kind": "failure",
        "reason": reason("RuntimeError: the orders table is locked"),
    }
    assert event["conversation_metadata"]["airflow_callback"] == "failure"
    assert "airflow_dag_id" not in event["conversation_metadata"]  # never mistaken for a create operator's event
    logs = captured(capsys, caplog)
    assert "Telnyx notification for the failure callback of DAG example_telnyx_notify_on_failure" in logs
    assert telnyx_simulator.api_key not in logs


def test_a_callback_run_twice_creates_one_event(telnyx_simulator: Simulator) -> None:
    run = run_dag("notify_sms_twice")
    assert task_states(run) == {"load": "failed"}
    (event,) = telnyx_simulator.events()
    assert event["text"] == "Task load of notify_sms_twice failed"
    assert creates(telnyx_simulator) == [(201, None), (201, None)]
    assert telnyx_simulator.stats()["idempotent_replays"] == 1
    keys = {e.idempotency_key for e in telnyx_simulator.journal if e.route == "create"}
    assert len(keys) == 1


@pytest.mark.telnyx_simulator(faults=Faults(failing_assistants=("assistant-broken",)))
def test_notifications_that_cannot_be_sent_are_logged_and_change_no_outcome(
    telnyx_simulator: Simulator,
    simulator_connection: SimulatorConnection,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator_connection("telnyx_fragile", max_retries=0)
    run = run_dag("notify_unreachable")
    assert task_states(run) == {"fails": "failed", "succeeds": "success"}
    assert telnyx_simulator.events() == []
    assert [status for status, _ in creates(telnyx_simulator)] == [503, 503]
    logs = captured(capsys, caplog)
    assert logged_times(logs, "Telnyx notification for the failure callback of DAG notify_unreachable") == 1
    assert "Telnyx notification for the success callback of DAG notify_unreachable, run" in logs
    assert "not sent: TelnyxServerError" in logs
    assert "telnyx_not_defined" in logs  # the missing connection is named
    assert telnyx_simulator.api_key not in logs


def test_phone_call_carries_the_variables_with_the_secret_masked(
    telnyx_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "wh-secret-7Qx93-do-not-say"
    monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_WAREHOUSE", json.dumps({"conn_type": "generic", "password": password}))
    run = run_dag("notify_call_with_secret")
    assert task_states(run) == {"quotes_a_password": "failed"}
    (event,) = telnyx_simulator.events()
    assert event["telnyx_conversation_channel"] == "phone_call"
    assert event["dynamic_variables"] == {
        "dag_id": "NOTIFY_CALL_WITH_SECRET",  # the user's templated value wins
        "run_id": run.run_id,
        "task_id": "quotes_a_password",
        "map_index": "-1",
        "try_number": "1",
        "callback_kind": "failure",
        "reason": reason("PermissionError: warehouse refused password ***"),
        "team": "data-platform",
    }
    assert "text" not in event
    assert password not in repr(telnyx_simulator.events())
    assert telnyx_simulator.api_key not in captured(capsys, caplog)


def test_retry_and_failure_callbacks_notify_once_each(telnyx_simulator: Simulator) -> None:
    run = run_dag("notify_retry_then_failure")
    assert task_states(run) == {"flaky": "failed"}
    events = sorted(telnyx_simulator.events(), key=lambda e: e["dynamic_variables"]["try_number"])
    assert [(e["dynamic_variables"]["callback_kind"], e["dynamic_variables"]["try_number"]) for e in events] == [
        ("retry", "1"),
        ("failure", "2"),
    ]
    keys = {e.idempotency_key for e in telnyx_simulator.journal if e.route == "create"}
    assert len(keys) == 2


def test_dag_failure_callback_names_the_failed_task(telnyx_simulator: Simulator) -> None:
    run = run_dag("notify_dag_failure")
    assert task_states(run) == {"extract": "success", "transform": "failed"}
    assert run.state == "failed"
    (event,) = telnyx_simulator.events()
    assert event["text"] == f"Run {run.run_id} of notify_dag_failure failed: task_failure"
    variables = event["dynamic_variables"]
    assert (variables["callback_kind"], variables["task_id"], variables["reason"]) == (
        "dag_failure",
        "transform",
        "task_failure",
    )
    assert event["conversation_metadata"]["airflow_callback"] == "dag_failure"


# -- deadline alerts: the callback runners Airflow itself uses, driven in-process ------------------------------

DEADLINE_KWARGS: dict[str, Any] = {
    "assistant_id": ASSISTANT_ID,
    "end_user_target": "+13125550110",
    "agent_target": "+13125550199",
    "conversation_channel": "sms_chat",
    "text": "{{ dag_run.dag_id }} missed its deadline",
}


def deadline_context() -> dict[str, Any]:
    """What Airflow's scheduler puts in a missed deadline's callback kwargs (``Deadline.handle_miss``)."""
    return {
        "dag_run": {"dag_id": "nightly_load", "dag_run_id": "scheduled__2031-06-01T00:00:00+00:00", "state": "running"},
        "deadline": {"id": "0192f0c4-0000-7000-8000-000000000001", "deadline_time": "2031-06-01T02:00:00+00:00"},
    }


def callback_trigger() -> Any:
    """The triggerer's runner of ``AsyncCallback``s: ``CallbackTrigger`` (3.2+) or ``DeadlineCallbackTrigger`` (3.1)."""
    try:
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:
        try:
            # Airflow 3.1's name for it (the module is gone from the Airflow mypy checks against).
            from airflow.triggers.deadline import (  # type: ignore[import-not-found, no-redef]
                DeadlineCallbackTrigger as CallbackTrigger,
            )
        except ImportError:
            pytest.skip("Airflow 3.0 has no deadline alerts")
    return CallbackTrigger


def test_async_deadline_callback_pages_from_the_triggerer(telnyx_simulator: Simulator) -> None:
    trigger = callback_trigger()(
        callback_path=f"{TelnyxNotifier.__module__}.TelnyxNotifier",
        callback_kwargs={**DEADLINE_KWARGS, "context": deadline_context()},
    )

    async def events() -> list[Any]:
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(events())
    assert [getattr(p["state"], "value", p["state"]) for p in payloads] == ["running", "success"]
    (event,) = telnyx_simulator.events()
    assert event["text"] == "nightly_load missed its deadline"
    variables = event["dynamic_variables"]
    assert (variables["callback_kind"], variables["dag_id"], variables["run_id"], variables["task_id"]) == (
        "deadline",
        "nightly_load",
        "scheduled__2031-06-01T00:00:00+00:00",
        "",
    )
    assert variables["reason"] == "deadline missed (due 2031-06-01T02:00:00+00:00)"


def test_sync_deadline_callback_pages_from_the_executor_once(telnyx_simulator: Simulator) -> None:
    import structlog

    path = f"{TelnyxNotifier.__module__}.TelnyxNotifier"
    kwargs = {**DEADLINE_KWARGS, "context": deadline_context()}
    try:  # 3.3: the callback supervisor's runner
        from airflow.sdk.execution_time.callback_supervisor import execute_callback

        def execute() -> tuple[bool, str | None]:
            # "" is "no DAG file" (tested with ``not``; no PathLike is falsy), as the callback supervisor passes it.
            return execute_callback(path, dict(kwargs), "", None, structlog.get_logger())  # type: ignore[arg-type]
    except ImportError:  # 3.2: the executor's runner of a callback workload
        workloads = pytest.importorskip("airflow.executors.workloads.callback", reason="SyncCallback is 3.2+")

        def execute() -> tuple[bool, str | None]:
            workload = SimpleNamespace(data={"path": path, "kwargs": dict(kwargs)})
            succeeded: tuple[bool, str | None] = workloads.execute_callback_workload(workload, structlog.get_logger())
            return succeeded

    for _ in range(2):  # an executor that runs the callback again sends nothing new
        assert execute() == (True, None)
    (event,) = telnyx_simulator.events()
    assert event["dynamic_variables"]["callback_kind"] == "deadline"
    assert telnyx_simulator.stats()["idempotent_replays"] == 1


def test_deadline_alerts_accept_the_notifier() -> None:
    """``DeadlineAlert`` takes the notifier class as an ``AsyncCallback`` (3.1+) and a ``SyncCallback`` (3.2+)."""
    try:
        # Exported by airflow.sdk at run time (3.2+), but missing from its __init__.pyi.
        from airflow.sdk import (  # type: ignore[attr-defined]
            AsyncCallback,
            DeadlineAlert,
            DeadlineReference,
            SyncCallback,
        )
    except ImportError:
        deadline = pytest.importorskip("airflow.sdk.definitions.deadline", reason="Airflow 3.0 has no deadline alerts")
        AsyncCallback, DeadlineAlert, DeadlineReference = (
            deadline.AsyncCallback,
            deadline.DeadlineAlert,
            deadline.DeadlineReference,
        )
        callbacks = [AsyncCallback]
    else:
        callbacks = [AsyncCallback, SyncCallback]
    for kind in callbacks:
        alert = DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=2),
            callback=kind(TelnyxNotifier, kwargs=DEADLINE_KWARGS),
        )
        assert alert.callback.path == "airflow_provider_telnyx.notifications.telnyx.TelnyxNotifier"


def test_a_late_second_run_sends_another_body_and_the_reused_key_stops_it(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The same callback run again after its 10 s lead passed cannot send the same body (its time moved): the
    server refuses the reused key (422) and the notifier takes that as "already sent"."""
    from airflow_provider_telnyx._common import utcnow

    ended = utcnow()
    ti = SimpleNamespace(
        dag_id="orders", run_id="r1", task_id="load", map_index=-1, try_number=1, state="failed", end_date=ended
    )
    dag = SimpleNamespace(dag_id="orders", render_template_as_native_obj=False)
    context = {"ti": ti, "dag": dag, "run_id": "r1", "exception": RuntimeError("boom")}
    page = TelnyxNotifier(**DEADLINE_KWARGS | {"text": "load failed"})
    page(context)
    page.clock = lambda: ended + timedelta(seconds=30)
    page(context)
    assert len(telnyx_simulator.events()) == 1
    assert [status for status, _ in creates(telnyx_simulator)] == [201, 422]
    assert "already sent by an earlier run of this callback" in captured(capsys, caplog)
