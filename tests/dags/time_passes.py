"""DAGs whose retries run after the scheduled time (run with ``dag.test()`` by tests/integration/test_time_passes.py).

Each uses a connection without hook-level retries (``telnyx_no_retries``), so a failed request fails the try and
Airflow's own retry, a few seconds later, runs after the call's time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor

ASSISTANT = "assistant-late"
START = datetime(2026, 1, 1)
#: The call is due 3 s after the first try starts; the retry starts at least 4 s after the first try ended, so at
#: least 1 s after the call's time (dag.test() looks for tasks to run once a second: usually a little later).
DUE_IN = timedelta(seconds=3)
RETRY_DELAY = timedelta(seconds=4)


def single(dag_id: str, **kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        TelnyxCreateScheduledEventOperator(
            task_id="schedule_call",
            assistant_id=ASSISTANT,
            end_user_target="+13125550100",
            agent_target="+13125550199",
            scheduled_at=DUE_IN,
            retries=1,
            retry_delay=RETRY_DELAY,
            telnyx_conn_id="telnyx_no_retries",
            **kwargs,
        )
    return dag


late_send_now = single("late_send_now")
late_fail = single("late_fail", late_policy="fail")
late_skip = single("late_skip", late_policy="skip")
late_too_late = single("late_too_late", max_lateness=timedelta(seconds=0.5))

with DAG("late_batch_400", schedule=None, start_date=START, catchup=False) as late_batch_400:
    TelnyxCreateScheduledEventsOperator(
        task_id="schedule_calls",
        assistant_id=ASSISTANT,
        events=[{"end_user_target": f"+1312556{i:04d}"} for i in range(400)],
        agent_target="+13125550199",
        scheduled_at=timedelta(seconds=1),
        max_concurrency=20,
    )

with DAG("late_batch_retry", schedule=None, start_date=START, catchup=False) as late_batch_retry:
    TelnyxCreateScheduledEventsOperator(
        task_id="schedule_calls",
        assistant_id=ASSISTANT,
        events=[{"end_user_target": f"+1312557{i:04d}"} for i in range(100)],
        agent_target="+13125550199",
        scheduled_at=DUE_IN,
        # A fixed rate: the first try sends all 100 well before DUE_IN. Adapting, it starts slow (about 30/s), and
        # on a loaded machine its last creates reached the API after the call's time (400, then sent again).
        requests_per_second=1000,
        retries=1,
        retry_delay=RETRY_DELAY,
        telnyx_conn_id="telnyx_no_retries",
    )

with DAG("late_bad_key", schedule=None, start_date=START, catchup=False) as late_bad_key:
    TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT,
        end_user_target="+13125550100",
        agent_target="+13125550199",
        scheduled_at=timedelta(minutes=5),
        retries=2,
        retry_delay=timedelta(seconds=0),
        telnyx_conn_id="telnyx_wrong_key",
    )

with DAG("late_typo_xcom", schedule=None, start_date=START, catchup=False) as late_typo_xcom:
    create = TelnyxCreateScheduledEventOperator(
        task_id="schedule_call",
        assistant_id=ASSISTANT,
        end_user_target="+13125550100",
        agent_target="+13125550199",
        scheduled_at=timedelta(minutes=5),
    )
    wait = TelnyxScheduledEventSensor(
        task_id="wait_for_call",
        assistant_id=ASSISTANT,
        scheduled_event_id="{{ ti.xcom_pull(task_ids='schedule_cal', key='scheduled_event_id') }}",  # typo
        poke_interval=1,
        timeout=30,
        retries=2,
    )
    create >> wait
