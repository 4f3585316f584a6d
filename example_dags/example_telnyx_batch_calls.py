"""Call every contact of a CSV in one task, at the API's rate limit, then wait for all the calls together.

One batch task instead of one mapped task per person: it validates every row before calling anyone, creates
the calls concurrently under the rate limit, and a retry creates only the calls that are missing. The sensor
polls all the calls with a few list requests per cycle instead of one request per call.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventsSensor

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
AGENT_TARGET = os.environ.get("TELNYX_AGENT_TARGET", "+13125550199")
CONTACTS = Path(os.environ.get("TELNYX_CONTACTS_CSV") or Path(__file__).parent / "data" / "contacts.csv")
# How long after the task starts the calls are due: a few seconds against the simulator, hours in production.
BATCH_DELAY_SECONDS = int(os.environ.get("TELNYX_BATCH_DELAY_SECONDS", "10"))


@dag(
    dag_id="example_telnyx_batch_calls",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
)
def example_telnyx_batch_calls() -> None:
    @task
    def read_contacts() -> list[dict[str, object]]:
        with CONTACTS.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's "CSV UTF-8" starts with a BOM
            return [
                {
                    "end_user_target": row["phone"],
                    "dynamic_variables": {"customer_name": row["name"], "order_id": row["order_id"]},
                    "conversation_metadata": {"order_id": row["order_id"]},
                }
                for row in csv.DictReader(handle)
            ]

    # [START howto_operator_telnyx_batch]
    schedule_calls = TelnyxCreateScheduledEventsOperator(
        task_id="schedule_calls",
        assistant_id=ASSISTANT_ID,
        events=read_contacts(),
        agent_target=AGENT_TARGET,
        scheduled_at=timedelta(seconds=BATCH_DELAY_SECONDS),
        dynamic_variables={"campaign": "delivery-update"},
        max_retries_client_errors=1,
        retry_interval_secs=300,
        max_concurrency=10,
        retries=2,
    )
    # [END howto_operator_telnyx_batch]

    # [START howto_sensor_telnyx_many]
    wait_for_calls = TelnyxScheduledEventsSensor(
        task_id="wait_for_calls",
        assistant_id=ASSISTANT_ID,
        scheduled_event_ids=schedule_calls.output,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
        fail_on_failure=False,
    )
    # [END howto_sensor_telnyx_many]

    @task
    def report(outcome: dict[str, Any]) -> dict[str, int]:
        counts: dict[str, int] = outcome["counts"]
        print(f"calls: {counts}")
        return counts

    # A task called with an XComArg gets its value when it runs; Airflow's types cannot say so.
    report(wait_for_calls.output)  # type: ignore[arg-type]


example_telnyx_batch_calls()
