"""DAGs the integration tests run with ``dag.test()`` (a DAG must live in a bundle for that)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor

ASSISTANT = "assistant-e2e"
START = datetime(2026, 1, 1)


def call_then_wait(dag_id: str, target: str, **sensor_kwargs: object) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        create = TelnyxCreateScheduledEventOperator(
            task_id="schedule_call",
            assistant_id=ASSISTANT,
            end_user_target=target,
            agent_target="+13125550199",
            scheduled_at=timedelta(seconds=3),
            max_retries_client_errors=2,
            retry_interval_secs=60,
        )
        wait = TelnyxScheduledEventSensor(
            task_id="wait_for_call",
            assistant_id=ASSISTANT,
            scheduled_event_id="{{ ti.xcom_pull(task_ids='schedule_call', key='scheduled_event_id') }}",
            deferrable=True,
            poke_interval=1,
            timeout=300,
            **sensor_kwargs,
        )
        create >> wait
    return dag


e2e_completed = call_then_wait("e2e_completed", "+13125550100")
e2e_failed = call_then_wait("e2e_failed", "+13125550102")
e2e_soft_fail = call_then_wait("e2e_soft_fail", "+13125550102", soft_fail=True)

with DAG("e2e_lost_response", schedule=None, start_date=START, catchup=False) as e2e_lost_response:
    # Uses a connection without hook-level retries, so a lost response fails the try and Airflow retries it.
    TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT,
        end_user_target="+13125550100",
        agent_target="+13125550199",
        scheduled_at=timedelta(minutes=5),
        retries=2,
        retry_delay=timedelta(seconds=0),
        telnyx_conn_id="telnyx_no_retries",
    )

with DAG("e2e_bad_input", schedule=None, start_date=START, catchup=False) as e2e_bad_input:
    # A bad target must fail the task at once: its 3 retries could never fix it.
    TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT,
        end_user_target="555-0100",
        agent_target="+13125550199",
        scheduled_at=timedelta(minutes=5),
        retries=3,
        retry_delay=timedelta(seconds=0),
    )
