"""Schedule an AI-assistant phone call a few seconds ahead, wait for it without holding a worker, report it.

Runs unchanged against the embedded simulator (``make demo``) or the real API (set the ``telnyx_default``
connection, ``TELNYX_ASSISTANT_ID``, ``TELNYX_AGENT_TARGET`` and ``TELNYX_END_USER_TARGET``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
AGENT_TARGET = os.environ.get("TELNYX_AGENT_TARGET", "+13125550199")
# The simulator's "busy, then answered" number: the first attempt is busy, the API's retry answers.
END_USER_TARGET = os.environ.get("TELNYX_END_USER_TARGET", "+13125550101")
CALL_DELAY_SECONDS = int(os.environ.get("TELNYX_CALL_DELAY_SECONDS", "10"))


@dag(
    dag_id="example_telnyx_scheduled_call",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
    params={"customer_name": "Ada", "order_id": "A-1042"},
)
def example_telnyx_scheduled_call() -> None:
    # [START howto_operator_telnyx_create_call]
    schedule_call = TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT_ID,
        end_user_target=END_USER_TARGET,
        agent_target=AGENT_TARGET,
        # A timedelta means "this long after the task runs"; a template such as
        # "{{ data_interval_end + macros.timedelta(hours=1) }}" works too.
        scheduled_at=timedelta(seconds=CALL_DELAY_SECONDS),
        dynamic_variables={"customer_name": "{{ params.customer_name }}", "order_id": "{{ params.order_id }}"},
        conversation_metadata={"order_id": "{{ params.order_id }}"},
        max_retries_client_errors=2,
        retry_interval_secs=60,
        retries=2,
    )
    # [END howto_operator_telnyx_create_call]

    # [START howto_sensor_telnyx_scheduled_event]
    wait_for_call = TelnyxScheduledEventSensor(
        task_id="wait_for_call",
        assistant_id=ASSISTANT_ID,
        scheduled_event_id="{{ ti.xcom_pull(task_ids='schedule_call', key='scheduled_event_id') }}",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
    # [END howto_sensor_telnyx_scheduled_event]

    @task
    def report(event: dict[str, Any]) -> str:
        attempts = event.get("call_attempts") or []
        lines = [f"#{a['attempt_number']} {a['call_status']}" for a in attempts]
        summary = f"event {event['scheduled_event_id']} {event['status']}; attempts: {', '.join(lines)}"
        print(summary)
        return summary

    # A task called with an XComArg gets its value when it runs; Airflow's types cannot say so.
    report(wait_for_call.output)  # type: ignore[arg-type]
    schedule_call >> wait_for_call


example_telnyx_scheduled_call()
