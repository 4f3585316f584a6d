"""A DAG whose lineage Airflow's OpenLineage provider reports (run with ``dag.test()`` in a fresh interpreter with an
OpenLineage transport by tests/integration/test_lineage.py): a call is created (at ``TELNYX_LINEAGE_AT``), then
exported to the file that ``TELNYX_LINEAGE_EXPORT`` names."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator

ASSISTANT = "assistant-1"

with DAG("lineage_create_then_export", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    created = TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT,
        end_user_target="+13125550100",
        agent_target="+13125550199",
        scheduled_at=os.environ.get("TELNYX_LINEAGE_AT", "2031-05-02T11:00:00+00:00"),
    )
    TelnyxExportScheduledEventsOperator(
        task_id="export_calls",
        assistant_id=ASSISTANT,
        destination=os.environ.get("TELNYX_LINEAGE_EXPORT", "file:///nonexistent/lineage/events.jsonl"),
        event_ids=created.output,
    )
