"""One DAG that meets success, 401, 422 and 5xx, run by the secrets test at INFO and DEBUG log levels."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor

COMMON: dict[str, Any] = {"agent_target": "+13125550199", "scheduled_at": timedelta(minutes=2)}

with DAG("secrets_scan", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    ok = TelnyxCreateScheduledEventOperator(
        task_id="ok_call",
        assistant_id="assistant-secrets",
        end_user_target="+13125550100",
        scheduled_at=timedelta(seconds=3),
        agent_target="+13125550199",
    )
    wait = TelnyxScheduledEventSensor(
        task_id="wait_for_call",
        assistant_id="assistant-secrets",
        deferrable=True,
        poke_interval=1,
        timeout=120,
        scheduled_event_id="{{ ti.xcom_pull(task_ids='ok_call', key='scheduled_event_id') }}",
    )
    ok >> wait
    TelnyxCreateScheduledEventOperator(  # 401: the connection's key was revoked
        task_id="unauthorized",
        assistant_id="assistant-secrets",
        end_user_target="+13125550100",
        telnyx_conn_id="telnyx_revoked",
        **COMMON,
    )
    first = TelnyxCreateScheduledEventOperator(
        task_id="first_use_of_key",
        assistant_id="assistant-secrets",
        end_user_target="+13125550100",
        idempotency_key="reused-key",
        **COMMON,
    )
    second = TelnyxCreateScheduledEventOperator(  # 422: the same key with another body
        task_id="key_reused_422",
        assistant_id="assistant-secrets",
        end_user_target="+13125550104",
        idempotency_key="reused-key",
        **COMMON,
    )
    first >> second
    TelnyxCreateScheduledEventOperator(  # 5xx: this tenant is broken in the simulator
        task_id="server_error",
        assistant_id="assistant-broken",
        end_user_target="+13125550100",
        telnyx_conn_id="telnyx_quick",
        **COMMON,
    )
    # A proxy that echoes the Authorization header in its error bodies: exceptions, the batch summary (XCom) and the
    # trigger's payload (the task instance's next_kwargs) are all derived from such bodies.
    TelnyxCreateScheduledEventOperator(
        task_id="echoed_create", assistant_id="assistant-echo", end_user_target="+13125550100", **COMMON
    )
    TelnyxCreateScheduledEventsOperator(
        task_id="echoed_batch",
        assistant_id="assistant-echo",
        events=[{"end_user_target": "+13125550100"}, {"end_user_target": "+13125550101"}],
        fail_on_item_error=False,
        **COMMON,
    )
    TelnyxScheduledEventSensor(
        task_id="echoed_wait",
        assistant_id="assistant-echo",
        scheduled_event_id="evt-echo",
        deferrable=True,
        poke_interval=1,
        timeout=60,
    )
