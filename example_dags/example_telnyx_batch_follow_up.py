"""Call the day's contacts from a CSV, then follow up on every row that was not reached, from one XCom.

A daily DAG. The batch sends every valid row: with ``on_invalid_item="skip"`` a bad phone number is that row's
outcome (``invalid``, with the field and the reason), not the whole batch's. The sensor waits for the calls and
returns one entry per CSV row (its ``index``, final ``status``, call ``attempts`` and ``outcome``), the rows the
batch could not send included, so a branch picks the failed and invalid rows from that one result.
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
CONTACTS = Path(os.environ.get("TELNYX_DAILY_CONTACTS_CSV") or Path(__file__).parent / "data" / "contacts_daily.csv")
# How long after the task starts the calls are due: a few seconds against the simulator, hours in production.
BATCH_DELAY_SECONDS = int(os.environ.get("TELNYX_BATCH_DELAY_SECONDS", "10"))


@dag(
    dag_id="example_telnyx_batch_follow_up",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["telnyx", "example"],
)
def example_telnyx_batch_follow_up() -> None:
    @task
    def read_contacts() -> list[dict[str, Any]]:
        with CONTACTS.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's "CSV UTF-8" starts with a BOM
            return [
                {
                    "end_user_target": row["phone"],  # "+44 20 7946 0958" is sent as +442079460958
                    "dynamic_variables": {"customer_name": row["name"], "order_id": row["order_id"]},
                }
                for row in csv.DictReader(handle)
            ]

    # [START howto_operator_telnyx_batch_skip_invalid]
    schedule_calls = TelnyxCreateScheduledEventsOperator(
        task_id="schedule_calls",
        assistant_id=ASSISTANT_ID,
        events=read_contacts(),
        agent_target=AGENT_TARGET,
        scheduled_at=timedelta(seconds=BATCH_DELAY_SECONDS),
        max_retries_client_errors=1,
        retry_interval_secs=60,
        on_invalid_item="skip",  # bad rows are reported "invalid"; the others are called
        fail_on_item_error=False,  # a refused row is reported "failed"; the follow-up handles it
    )
    # [END howto_operator_telnyx_batch_skip_invalid]

    # [START howto_sensor_telnyx_many_branch]
    wait_for_calls = TelnyxScheduledEventsSensor(
        task_id="wait_for_calls",
        assistant_id=ASSISTANT_ID,
        scheduled_event_ids=schedule_calls.output,  # the batch summary: one result item per CSV row
        fail_on_failure=False,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )

    def not_reached(result: dict[str, Any]) -> list[dict[str, Any]]:
        """The CSV rows nobody reached: calls that failed, rows the batch refused or could not create."""
        return [item for item in result["items"] if item["outcome"] in ("failed", "invalid")]

    @task.branch
    def route(result: dict[str, Any]) -> str:
        rows = not_reached(result)
        print(f"{result['counts']}; to follow up: rows {[row['index'] for row in rows]}")
        return "follow_up" if rows else "all_reached"

    @task
    def follow_up(result: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "row": item["index"],
                "phone": item.get("end_user_target") or item.get("end_user_target_input"),
                "outcome": item["outcome"],
                "attempts": item["attempts"]["count"],
                "last_call_status": item["attempts"]["last_call_status"],
                "why": item["error"],
            }
            for item in not_reached(result)
        ]

    @task
    def all_reached() -> None:
        print("every contact was reached")

    # A task called with an XComArg gets its value when it runs; Airflow's types cannot say so.
    route(wait_for_calls.output) >> [follow_up(wait_for_calls.output), all_reached()]  # type: ignore[arg-type]
    # [END howto_sensor_telnyx_many_branch]


example_telnyx_batch_follow_up()
