"""20 mapped create tasks with task retries, for the exactly-once reliability test."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator

TARGETS = [f"+1312555{2000 + i:04d}" for i in range(20)]

with DAG("reliability_mapped_creates", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    # The connection has no hook-level retries: a lost response fails the try, and Airflow's retry must adopt
    # the event the lost try created instead of creating another.
    TelnyxCreateScheduledEventOperator.partial(
        task_id="schedule_calls",
        assistant_id="assistant-mapped",
        agent_target="+13125550199",
        scheduled_at=timedelta(hours=1),
        retries=4,
        retry_delay=timedelta(seconds=0),
        telnyx_conn_id="telnyx_no_retries",
    ).expand(end_user_target=TARGETS)
