"""Every day, export yesterday's calls with their transcripts and insights to a file, and announce it as an Asset.

The schedule is a data-interval timetable, so each run's data interval is the day before it and the operator's
default range is "yesterday" (Airflow 3's plain ``schedule="@daily"`` gives runs no interval: the operator would
refuse it and ask for ``from_date``/``to_date``). The file lands in
``$TELNYX_EXPORT_ROOT/calls/<day exported>/calls.jsonl`` (default ``file:///tmp/telnyx-exports``; an ``s3://`` or
``gs://`` root works the same with its provider installed). ``example_telnyx_load_calls`` is scheduled on the
Asset and loads each new file into a warehouse table.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Asset, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
EXPORT_ROOT = os.environ.get("TELNYX_EXPORT_ROOT", "file:///tmp/telnyx-exports").rstrip("/")

#: Downstream DAGs schedule on this; each asset event's ``extra`` names the file written and its row count.
CALL_EXPORTS = Asset(name="telnyx_call_exports", uri=f"{EXPORT_ROOT}/calls")


@dag(
    dag_id="example_telnyx_export_calls",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
)
def example_telnyx_export_calls() -> None:
    # [START howto_operator_telnyx_export]
    TelnyxExportScheduledEventsOperator(
        task_id="export_calls",
        assistant_id=ASSISTANT_ID,
        conversation_channel="phone_call",
        # from_date/to_date default to the run's data interval: yesterday, for a @daily DAG.
        # The folder is named after the day exported (the data interval's start).
        destination=f"{EXPORT_ROOT}/calls/{{{{ data_interval_start | ds }}}}/calls.jsonl",
        include_transcript=True,
        include_insights=True,
        outlets=[CALL_EXPORTS],
    )
    # [END howto_operator_telnyx_export]


example_telnyx_export_calls()
