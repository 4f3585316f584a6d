"""DAGs whose callbacks page the on-call with ``TelnyxNotifier``, run by tests/integration/test_notifier.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_telnyx.notifications.telnyx import TelnyxNotifier

ASSISTANT = "assistant-demo"
SMS: dict[str, Any] = {
    "assistant_id": ASSISTANT,
    "end_user_target": "+13125550110",
    "agent_target": "+13125550199",
    "conversation_channel": "sms_chat",
    "text": "Task {{ ti.task_id }} of {{ dag.dag_id }} failed",
}
DAG_ARGS: dict[str, Any] = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False}


def _fail() -> None:
    raise RuntimeError("the orders table is locked")


with DAG("notify_sms_twice", **DAG_ARGS):
    # Airflow may run a callback twice; two notifiers built alike stand for that: one SMS, the second is a replay.
    task(retries=0, on_failure_callback=[TelnyxNotifier(**SMS), TelnyxNotifier(**SMS)])(_fail).override(
        task_id="load"
    )()

with DAG("notify_unreachable", **DAG_ARGS):
    # The notifications cannot be sent (503 every time, no connection): the tasks keep their own outcome.
    broken = {**SMS, "assistant_id": "assistant-broken", "telnyx_conn_id": "telnyx_fragile"}
    missing = {**SMS, "telnyx_conn_id": "telnyx_not_defined"}
    task(retries=0, on_failure_callback=TelnyxNotifier(**broken))(_fail).override(task_id="fails")()

    @task(on_success_callback=[TelnyxNotifier(**broken), TelnyxNotifier(**missing)])
    def succeeds() -> str:
        return "done"

    succeeds()

with DAG("notify_call_with_secret", **DAG_ARGS):

    @task(
        retries=0,
        on_failure_callback=TelnyxNotifier(
            assistant_id=ASSISTANT,
            end_user_target="+13125550100",
            agent_target="+13125550199",
            dynamic_variables={"team": "data-platform", "dag_id": "{{ dag.dag_id | upper }}"},
        ),
    )
    def quotes_a_password() -> None:
        from airflow_provider_telnyx._compat import BaseHook

        password = BaseHook.get_connection("notify_warehouse").password  # Airflow masks it from here on
        raise PermissionError(f"warehouse refused password {password}\nsecond line of the message")

    quotes_a_password()

with DAG("notify_retry_then_failure", **DAG_ARGS):
    task(
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=TelnyxNotifier(**SMS),
        on_failure_callback=TelnyxNotifier(**SMS),
    )(_fail).override(task_id="flaky")()

with DAG(
    "notify_dag_failure",
    on_failure_callback=TelnyxNotifier(**{**SMS, "text": "Run {{ run_id }} of {{ dag.dag_id }} failed: {{ reason }}"}),
    **DAG_ARGS,
):

    @task
    def extract() -> None:
        return None

    extract() >> task(retries=0)(_fail).override(task_id="transform")()
