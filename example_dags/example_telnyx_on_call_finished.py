"""Run a DAG for every call that finishes: event-driven scheduling on an ``AssetWatcher``, no timetable.

The watcher's trigger (``TelnyxScheduledEventFinishedTrigger``) lists the assistant's scheduled events once a minute
in the triggerer and fires one asset event per call that becomes ``completed`` or ``failed``; the asset event's
``extra["payload"]`` describes the call (no transcript). Delivery is at least once: a triggerer restart delivers the
last hour's calls again, and Airflow may put several asset events into one run. So the task processes every
triggering event, once per ``scheduled_event_id``: it records the outcome in a table keyed by that id, and acts only
on ids it had not seen.

SQLite stands in for your database so the example runs anywhere (``TELNYX_OUTCOMES_DB``). Runs unchanged against
the simulator (``telnyx-simulator``) or the real API (set the ``telnyx_default`` connection and
``TELNYX_ASSISTANT_ID``). The watcher runs only while this DAG is unpaused, in the triggerer of a deployment
(``airflow dags test`` runs the consuming task, not the watcher).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import closing
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_telnyx.triggers.finished_events import TelnyxScheduledEventFinishedTrigger

ASSISTANT_ID = os.environ.get("TELNYX_ASSISTANT_ID", "assistant-demo")
POLL_SECONDS = float(os.environ.get("TELNYX_WATCH_POLL_SECONDS", "60"))
OUTCOMES_DB = os.environ.get("TELNYX_OUTCOMES_DB", os.path.join(tempfile.gettempdir(), "telnyx-call-outcomes.db"))

# [START howto_trigger_telnyx_finished_events]
FINISHED_CALLS = Asset(
    name="telnyx_finished_calls",
    watchers=[
        AssetWatcher(
            name="telnyx_finished_calls_watcher",
            trigger=TelnyxScheduledEventFinishedTrigger(
                assistant_id=ASSISTANT_ID,
                conversation_channel="phone_call",  # calls only; leave out for SMS too
                poll_interval=POLL_SECONDS,  # one listing per poll, whatever the number of calls
            ),
        )
    ],
)
# [END howto_trigger_telnyx_finished_events]


@dag(dag_id="example_telnyx_on_call_finished", schedule=[FINISHED_CALLS], catchup=False, tags=["telnyx", "example"])
def example_telnyx_on_call_finished() -> None:
    # [START howto_trigger_telnyx_finished_events_consumer]
    @task
    def record_outcomes(triggering_asset_events: Any = None) -> list[str]:
        """Record each finished call once; return the ids this run saw for the first time."""
        payloads = [
            event.extra["payload"]
            for events in (triggering_asset_events or {}).values()  # values() works on every Airflow 3.x
            for event in events
            if isinstance(event.extra.get("payload"), dict)
        ]
        new: list[str] = []
        # One transaction (a failed try records nothing), and the connection closed after it.
        with closing(sqlite3.connect(OUTCOMES_DB)) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS call_outcomes (scheduled_event_id TEXT PRIMARY KEY, status TEXT, "
                "end_user_target TEXT, conversation_id TEXT, attempts INTEGER, finished_at TEXT, errors TEXT)"
            )
            for call in payloads:
                inserted = db.execute(
                    "INSERT OR IGNORE INTO call_outcomes VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        call["scheduled_event_id"],
                        call["status"],
                        call["end_user_target"],
                        call["conversation_id"],
                        call["attempts"],
                        call["finished_at"],
                        json.dumps(call["errors"]),
                    ),
                ).rowcount
                if not inserted:  # delivered again (a triggerer restart): already processed
                    print(f"{call['scheduled_event_id']}: already recorded, skipped")
                    continue
                new.append(call["scheduled_event_id"])
                # Act here on a first delivery, keyed by the event id (e.g. a follow-up SMS created with
                # idempotency_key=f"follow-up-{call['scheduled_event_id']}" when call["status"] == "failed").
                print(f"{call['scheduled_event_id']} {call['status']}: {call['attempts_summary'] or 'no call'}")
        return new

    # [END howto_trigger_telnyx_finished_events_consumer]
    record_outcomes()


example_telnyx_on_call_finished()
