"""TelnyxNotifier's idempotency keys against the simulator, called as Airflow calls a callback (issue 24, item 2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from airflow_provider_telnyx.notifications.telnyx import TelnyxNotifier
from airflow_provider_telnyx.testing.simulator import Simulator

SMS: dict[str, Any] = {
    "assistant_id": "assistant-1",
    "agent_target": "+13125550199",
    "conversation_channel": "sms_chat",
    "text": "Task {{ ti.task_id }} of {{ dag.dag_id }} failed",
}


def failure_context(now: datetime) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="orders", run_id="r1", task_id="load", map_index=-1, try_number=1, state="failed", end_date=now
    )
    dag = SimpleNamespace(dag_id="orders", render_template_as_native_obj=False)
    return {"ti": ti, "dag": dag, "run_id": "r1", "exception": ValueError("bad row 7")}


def test_two_notifiers_on_one_failure_callback_page_both_people(telnyx_simulator: Simulator) -> None:
    """``on_failure_callback=[TelnyxNotifier(<on-call>), TelnyxNotifier(<manager>, phone_call)]`` is how Airflow
    users page two people (as with two SlackNotifiers): two callbacks, two keys (the recipient is part of it), so
    both people are paged."""
    now = datetime.now(timezone.utc)
    context = failure_context(now)
    oncall = TelnyxNotifier(**SMS, end_user_target="+13125550110")
    manager = TelnyxNotifier(**{**SMS, "conversation_channel": "phone_call"}, end_user_target="+13125550111")
    for callback in (oncall, manager):
        callback(context)
    targets = sorted(e["telnyx_end_user_target"] for e in telnyx_simulator.events())
    assert targets == ["+13125550110", "+13125550111"]


def test_a_cleared_dag_run_that_fails_again_pages_again(telnyx_simulator: Simulator) -> None:
    """A DAG-level ``on_failure_callback`` with no task instance (a ``dagrun_timeout``): the run cleared and failing
    again (``dag_run.clear_number`` 1) pages again; at most once per callback of one run of the DAG run."""
    now = datetime.now(timezone.utc)
    dag = SimpleNamespace(dag_id="orders", render_template_as_native_obj=False)
    notifier = TelnyxNotifier(**{**SMS, "text": "DAG {{ dag.dag_id }} failed"}, end_user_target="+13125550110")
    for clear_number, started in ((0, now), (1, now.replace(microsecond=0) + timedelta(minutes=30))):
        run = SimpleNamespace(dag_id="orders", run_id="r1", clear_number=clear_number, start_date=started)
        notifier({"dag": dag, "dag_run": run, "run_id": "r1", "reason": "timed_out"})
    assert len(telnyx_simulator.events()) == 2
