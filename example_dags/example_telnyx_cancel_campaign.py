"""Stop a campaign: cancel every call a batch scheduled, or every pending call that carries the campaign's tag.

The batch below schedules tomorrow's reminder calls; when the list or the wording turns out to be wrong, the cancel
task stops them all before anyone is called: one DELETE per event at the API's rate, events already dispatched left
alone and reported, and a retry (or a second run) changes nothing that is already cancelled.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.delete import TelnyxDeleteScheduledEventsOperator

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
AGENT_TARGET = os.environ.get("TELNYX_AGENT_TARGET", "+13125550199")


@dag(
    dag_id="example_telnyx_cancel_campaign",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
)
def example_telnyx_cancel_campaign() -> None:
    schedule_reminders = TelnyxCreateScheduledEventsOperator(
        task_id="schedule_reminders",
        assistant_id=ASSISTANT_ID,
        agent_target=AGENT_TARGET,
        scheduled_at=timedelta(days=1),
        events=[{"end_user_target": f"+1312555{7000 + i:04d}"} for i in range(10)],
        conversation_metadata={"campaign": "spring-reminders"},
    )

    # [START howto_operator_telnyx_cancel_batch]
    cancel_reminders = TelnyxDeleteScheduledEventsOperator(
        task_id="cancel_reminders",
        assistant_id=ASSISTANT_ID,
        scheduled_event_ids=schedule_reminders.output,  # the batch's summary, as it is
    )
    # [END howto_operator_telnyx_cancel_batch]

    # [START howto_operator_telnyx_cancel_campaign]
    cancel_by_tag = TelnyxDeleteScheduledEventsOperator(
        task_id="cancel_by_tag",
        assistant_id=ASSISTANT_ID,
        conversation_metadata={"campaign": "spring-reminders"},  # every pending event carrying this tag
        from_date="{{ data_interval_end }}",
        to_date="{{ data_interval_end + macros.timedelta(days=2) }}",
    )
    # [END howto_operator_telnyx_cancel_campaign]

    schedule_reminders >> cancel_reminders >> cancel_by_tag


example_telnyx_cancel_campaign()
