"""Scenarios on a real deployment (``make test-deployment``): every assertion reads DAG-run and task states back
through Airflow's REST API and the simulator's journal, as a user or an external system would."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.deployment.cluster import ROOT, Cluster, deployment
from tests.deployment.report import FIGURES

pytestmark = pytest.mark.deployment
CALL_DAG = "example_telnyx_scheduled_call"
BATCH_DAG = "example_telnyx_batch_calls"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as the postgres user.
    workdir = Path(tempfile.mkdtemp(prefix="telnyx-deployment-"))
    workdir.chmod(0o755)
    print(f"deployment logs: {workdir / 'logs'}")
    contacts = workdir / "contacts.csv"
    with contacts.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "phone", "order_id"])
        writer.writerows([f"Customer {i}", f"+1312{5560000 + i:07d}", f"B-{i}"] for i in range(1000))
    started = time.monotonic()
    extra = {
        "TELNYX_CALL_DELAY_SECONDS": "40",  # long enough to see every sensor deferred, and to kill things
        "TELNYX_BATCH_DELAY_SECONDS": "10",  # the example's own lead (the test session sets 3 for dag.test())
        "TELNYX_CONTACTS_CSV": str(contacts),
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "3",
    }
    with deployment(workdir, ROOT / "example_dags", extra) as running:
        FIGURES["deployment"] = {"seconds to bring every component up": round(time.monotonic() - started, 1)}
        for dag_id in (CALL_DAG, BATCH_DAG):
            running.wait_dag(dag_id)
        yield running


def _journal(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.sim("GET", "/journal"))


def _wait(predicate: Any, what: str, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(1)  # polling the deployment for a state, bounded by the timeout
    raise TimeoutError(what)


def twenty_runs_deferred_then_triggerer_restarted(cluster: Cluster, label: str) -> None:
    """20 concurrent runs of the call example; while every sensor is deferred, SIGKILL the triggerer, restart it."""
    runs = [f"concurrent_{i}" for i in range(20)]
    for run_id in runs:
        cluster.trigger(CALL_DAG, run_id)

    def all_deferred() -> bool:
        return all(cluster.task_states(CALL_DAG, r).get("wait_for_call") == "deferred" for r in runs)

    seconds_to_deferred = _wait(all_deferred, "every sensor deferred", 240)
    stats = cluster.sim("GET", "/stats")
    assert stats["events_created"] == 20

    def held_by_the_triggerer() -> int:
        with _pg(cluster) as db:
            return int(db.execute_scalar("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL"))

    _wait(lambda: held_by_the_triggerer() == 20, "the triggerer picked up all 20 triggers", 120)
    held = held_by_the_triggerer()
    mark = len(_journal(cluster))
    cluster.kill("triggerer", signal.SIGKILL)
    cluster.start("triggerer-restarted", str(Path(sys.executable).parent / "airflow"), "triggerer")
    states = cluster.wait_runs(CALL_DAG, runs, timeout=600)
    recovery = _journal(cluster)[mark:]
    methods = Counter(entry["method"] for entry in recovery)
    final = cluster.sim("GET", "/stats")
    FIGURES[f"{label}: 20 concurrent runs, triggerer killed (SIGKILL) and restarted while 20 sensors were deferred"] = {
        "runs": len(runs),
        "seconds until every sensor was deferred": round(seconds_to_deferred, 1),
        "sensors deferred and held by the triggerer": held,
        "runs succeeded": sum(s == "success" for s in states.values()),
        "requests during recovery by method": dict(methods),
        "events created": final["events_created"],
    }
    assert set(states.values()) == {"success"}
    assert set(methods) == {"GET"}
    assert final["events_created"] == 20


def test_20_runs_deferred_then_triggerer_killed_and_restarted(cluster: Cluster) -> None:
    twenty_runs_deferred_then_triggerer_restarted(cluster, "LocalExecutor")


def test_user_marks_a_deferred_sensor_failed_and_the_call_is_cancelled(cluster: Cluster) -> None:
    run_id = "user_kill"
    before = cluster.sim("GET", "/stats").get("events_cancelled", 0)
    cluster.trigger(CALL_DAG, run_id)
    _wait(lambda: cluster.task_states(CALL_DAG, run_id).get("wait_for_call") == "deferred", "sensor deferred", 240)
    event_id = cluster.api(
        "GET", f"/dags/{CALL_DAG}/dagRuns/{run_id}/taskInstances/schedule_call/xcomEntries/scheduled_event_id"
    )["value"].strip('"')

    def trigger_running() -> bool:  # Airflow calls on_kill only for a trigger a triggerer is running
        gets = [e for e in _journal(cluster) if e["route"] == "get" and e["event_id"] == event_id]
        return len(gets) >= 2  # the sensor's own first check, then the trigger's first poll

    _wait(trigger_running, "the triggerer is running the trigger", 120)
    cluster.api("PATCH", f"/dags/{CALL_DAG}/dagRuns/{run_id}/taskInstances/wait_for_call", json={"new_state": "failed"})
    seconds = _wait(
        lambda: cluster.sim("GET", "/stats").get("events_cancelled", 0) > before,
        "the trigger's on_kill cancelled the pending event",
        120,
    )
    cancelled = cluster.sim("GET", "/stats")["events_cancelled"] - before
    deletes = [e for e in _journal(cluster) if e["route"] == "delete" and e["event_id"] == event_id]
    assert cancelled == 1  # this event, and only it
    assert [e["status"] for e in deletes][-1:] == [200]  # cancelled by the trigger's on_kill, once accepted
    assert cluster.task_states(CALL_DAG, run_id)["wait_for_call"] == "failed"  # the user's choice stands
    FIGURES["a user marks a deferred sensor failed"] = {
        "seconds until the pending event was cancelled": round(seconds, 1),
        "events cancelled": cancelled,
    }


def test_worker_killed_after_the_create_was_sent_creates_exactly_one_event(cluster: Cluster) -> None:
    run_id = "worker_killed"
    sim_port = int(cluster.simulator_url.split(":")[2].split("/")[0])
    cluster.sim("PUT", "/faults", json={"hold_creates": True})
    created_before = cluster.sim("GET", "/stats").get("events_created", 0)
    cluster.trigger(CALL_DAG, run_id)
    _wait(lambda: cluster.sim("GET", "/stats").get("events_created", 0) > created_before, "create committed", 240)
    scheduler = cluster.processes["scheduler"].popen.pid

    def task_process(pid: int | None) -> bool:  # a task run by the scheduler's LocalExecutor workers
        with contextlib.suppress(psutil.Error):
            return pid is not None and scheduler in {parent.pid for parent in psutil.Process(pid).parents()}
        return False

    victims = {
        conn.pid
        for conn in psutil.net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == sim_port and conn.status == "ESTABLISHED" and task_process(conn.pid)
    }
    assert victims, "no task process was holding the create"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)  # the worker dies with the create sent and its answer not yet read
    cluster.sim("PUT", "/faults", json={"hold_creates": False})
    cluster.sim("POST", "/release")
    states = cluster.wait_runs(CALL_DAG, [run_id], timeout=600)
    tis = cluster.api("GET", f"/dags/{CALL_DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    create_ti = next(ti for ti in tis if ti["task_id"] == "schedule_call")
    events = [e for e in _journal(cluster) if e["route"] == "create"]
    ours_created = cluster.sim("GET", "/stats")["events_created"] - created_before
    FIGURES["a worker killed right after its create was sent"] = {
        "processes killed": len(victims),
        "create task tries": create_ti["try_number"],
        "run state": states[run_id],
        "events created for the run": ours_created,
    }
    assert states[run_id] == "success"
    assert create_ti["try_number"] >= 2
    assert ours_created == 1
    assert events


def test_batch_of_1000_events_through_the_scheduler(cluster: Cluster) -> None:
    run_id = "batch_1000"
    before = cluster.sim("GET", "/stats").get("events_created", 0)
    mark = len(_journal(cluster))
    started = time.monotonic()
    cluster.trigger(BATCH_DAG, run_id)
    states = cluster.wait_runs(BATCH_DAG, [run_id], timeout=900)
    elapsed = time.monotonic() - started
    created = cluster.sim("GET", "/stats")["events_created"] - before
    batch_requests = Counter(f"{e['route']} {e['status']}" for e in _journal(cluster)[mark:])
    FIGURES["the batch example with 1,000 contacts"] = {
        "run state": states[run_id],
        "seconds from trigger to success": round(elapsed, 1),
        "events created": created,
        "requests by route and status": dict(sorted(batch_requests.items())),
    }
    assert states[run_id] == "success"
    assert created == 1000


class _pg:
    def __init__(self, cluster: Cluster) -> None:
        import psycopg2

        self.connection = psycopg2.connect(
            cluster.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql")
        )

    def __enter__(self) -> _pg:
        return self

    def __exit__(self, *_: object) -> None:
        self.connection.close()

    def execute_scalar(self, sql: str) -> Any:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
