"""B5: the same events as mapped tasks (one task per person) and as one batch task."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator

N = int(os.environ.get("BENCH_EVENTS", "200"))
# Outside the simulator's outcome table (+1312555010x and 011x: busy, no answer, a refused destination...): every
# event is an ordinary call.
TARGETS = [f"+1312556{i:04d}" for i in range(N)]
COMMON: dict[str, Any] = {
    "assistant_id": "assistant-bench",
    "agent_target": "+13125550199",
    "scheduled_at": timedelta(days=1),
}

with DAG("bench_mapped", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=64):
    TelnyxCreateScheduledEventOperator.partial(task_id="call", **COMMON).expand(end_user_target=TARGETS)

with DAG("bench_batch", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    TelnyxCreateScheduledEventsOperator(
        task_id="calls", events=[{"end_user_target": target} for target in TARGETS], **COMMON
    )
