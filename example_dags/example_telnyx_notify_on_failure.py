"""Page the on-call with an AI assistant when a task fails: an SMS that says which DAG, task, run and try failed.

Runs unchanged against the embedded simulator (the test suite) or the real API (set the ``telnyx_default``
connection, ``TELNYX_ASSISTANT_ID``, ``TELNYX_AGENT_TARGET`` and ``TELNYX_ONCALL_TARGET``). The task fails on
purpose: the run ends ``failed`` and one SMS is sent.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_telnyx.notifications.telnyx import TelnyxNotifier

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
AGENT_TARGET = os.environ.get("TELNYX_AGENT_TARGET", "+13125550199")
ONCALL_TARGET = os.environ.get("TELNYX_ONCALL_TARGET", "+13125550110")  # simulator: SMS delivered


@dag(
    dag_id="example_telnyx_notify_on_failure",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
)
def example_telnyx_notify_on_failure() -> None:
    # [START howto_notifier_telnyx_on_failure]
    page_oncall = TelnyxNotifier(
        assistant_id=ASSISTANT_ID,
        end_user_target=ONCALL_TARGET,
        agent_target=AGENT_TARGET,
        conversation_channel="sms_chat",
        text="Task {{ ti.task_id }} of {{ dag.dag_id }} failed (run {{ run_id }}, try {{ ti.try_number }})",
    )

    @task(retries=0, on_failure_callback=page_oncall)
    def load_orders() -> None:
        raise RuntimeError("the orders table is locked")

    # [END howto_notifier_telnyx_on_failure]
    load_orders()


example_telnyx_notify_on_failure()
