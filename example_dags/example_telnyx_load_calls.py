"""Load each new call export into a warehouse table, scheduled on the export's Asset.

SQLite stands in for the warehouse so the example runs anywhere; with a real one, replace ``load`` by its bulk
loader reading the same file (``COPY INTO`` for Snowflake, ``bq load --source_format=NEWLINE_DELIMITED_JSON``,
``COPY ... FORMAT JSON`` for Redshift). Loading is idempotent: a file's rows replace the rows it loaded before.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import closing
from typing import Any

from airflow.sdk import Asset, ObjectStoragePath, dag, task

EXPORT_ROOT = os.environ.get("TELNYX_EXPORT_ROOT", "file:///tmp/telnyx-exports").rstrip("/")
WAREHOUSE = os.environ.get("TELNYX_WAREHOUSE_DB", os.path.join(tempfile.gettempdir(), "telnyx-warehouse.db"))
CALL_EXPORTS = Asset(name="telnyx_call_exports", uri=f"{EXPORT_ROOT}/calls")


@dag(
    dag_id="example_telnyx_load_calls",
    schedule=[CALL_EXPORTS],
    catchup=False,
    tags=["telnyx", "example"],
    params={"path": None},
)
def example_telnyx_load_calls() -> None:
    # [START howto_load_telnyx_export]
    @task
    def load(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> int:
        """Load the exported file into ``calls`` (one row per event) and ``call_messages`` (one per message)."""
        # The DAG is scheduled on one Asset: every triggering event is an export (values() works on every 3.x).
        events = [event for events in (triggering_asset_events or {}).values() for event in events]
        paths = [event.extra["path"] for event in events if event.extra.get("path")] or [(params or {})["path"]]
        with closing(sqlite3.connect(WAREHOUSE)) as db, db:  # one transaction, then the connection closed
            db.execute(
                "CREATE TABLE IF NOT EXISTS calls (scheduled_event_id TEXT PRIMARY KEY, end_user_target TEXT, "
                "status TEXT, scheduled_at TEXT, call_duration INTEGER, outcome TEXT, source TEXT)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS call_messages (scheduled_event_id TEXT, position INTEGER, role TEXT, "
                "text TEXT, sent_at TEXT, PRIMARY KEY (scheduled_event_id, position))"
            )
            rows = 0
            for path in paths:
                db.execute(
                    "DELETE FROM call_messages WHERE scheduled_event_id IN "
                    "(SELECT scheduled_event_id FROM calls WHERE source = ?)",
                    (path,),
                )
                db.execute("DELETE FROM calls WHERE source = ?", (path,))
                with ObjectStoragePath(path).open("r") as handle:
                    for line in iter(handle.readline, ""):  # line by line (Airflow 3.0's file wrapper is no iterator)
                        record = json.loads(line)
                        results = {r["insight_id"]: r["result"] for i in record["insights"] or [] for r in i["results"]}
                        db.execute(
                            "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (
                                record["scheduled_event_id"],
                                record["end_user_target"],
                                record["status"],
                                record["scheduled_at"],
                                record["call_duration"],
                                results.get("outcome"),
                                path,
                            ),
                        )
                        db.executemany(
                            "INSERT OR REPLACE INTO call_messages VALUES (?, ?, ?, ?, ?)",
                            [
                                (record["scheduled_event_id"], n, m["role"], m["text"], m["sent_at"])
                                for n, m in enumerate(record["messages"] or [])
                            ],
                        )
                        rows += 1
        return rows

    # [END howto_load_telnyx_export]
    load()


example_telnyx_load_calls()
