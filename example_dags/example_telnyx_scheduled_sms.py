"""Text a customer at a set time and wait for delivery in the same task (``wait_for_completion=True``)."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
AGENT_TARGET = os.environ.get("TELNYX_AGENT_TARGET", "+13125550199")
SMS_TARGET = os.environ.get("TELNYX_SMS_TARGET", "+13125550110")  # simulator: SMS delivered


@dag(
    dag_id="example_telnyx_scheduled_sms",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
    params={"customer_name": "Ada", "delay_seconds": 15},
)
def example_telnyx_scheduled_sms() -> None:
    # [START howto_operator_telnyx_create_sms]
    TelnyxCreateScheduledEventOperator(
        task_id="text_customer",
        assistant_id=ASSISTANT_ID,
        conversation_channel="sms_chat",
        end_user_target=SMS_TARGET,
        agent_target=AGENT_TARGET,
        # Jinja renders an ISO 8601 string with a UTC offset; in production this is typically
        # "{{ data_interval_end + macros.timedelta(hours=9) }}". The 15 s margin covers a slow task start-up
        # (a time that has passed when the event is sent follows late_policy, "send_now" by default).
        scheduled_at="{{ (ti.start_date + macros.timedelta(seconds=params.delay_seconds)).isoformat() }}",
        text="Hi {{ params.customer_name }}, your order has shipped.",
        dynamic_variables={"customer_name": "{{ params.customer_name }}"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=1,
        wait_timeout=300,
    )
    # [END howto_operator_telnyx_create_sms]


example_telnyx_scheduled_sms()
