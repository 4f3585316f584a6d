"""Event-driven scheduling on a real deployment (``make test-deployment``): the example's ``AssetWatcher`` runs
``TelnyxScheduledEventFinishedTrigger`` in the triggerer, each finished call becomes an asset event and a DAG run,
and a triggerer killed and restarted delivers the look-back's calls again, which the DAG does not process twice."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deployment.cluster import ROOT, Cluster, deployment
from tests.deployment.report import FIGURES

pytestmark = pytest.mark.deployment
DAG_ID = "example_telnyx_on_call_finished"
CALLS = 5


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="telnyx-event-driven-"))
    workdir.chmod(0o755)
    dags = workdir / "dags"  # only this example: the watcher is the only trigger, its runs the only runs
    dags.mkdir()
    shutil.copy(ROOT / "example_dags" / f"{DAG_ID}.py", dags)
    extra = {"TELNYX_OUTCOMES_DB": str(workdir / "outcomes.db"), "TELNYX_WATCH_POLL_SECONDS": "5"}
    print(f"deployment logs: {workdir / 'logs'}")
    with deployment(workdir, dags, extra) as running:
        running.wait_dag(DAG_ID)  # unpaused: the DAG processor registers the watcher's trigger on its next parse
        yield running


def _wait(predicate: Any, what: str, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(1)  # polling the deployment for a state, bounded by the timeout
    raise TimeoutError(what)


def _asset_events(cluster: Cluster) -> list[dict[str, Any]]:
    events = cluster.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    return [e for e in events if e["name"] == "telnyx_finished_calls"]


def _asset_events_or_none(cluster: Cluster) -> list[dict[str, Any]] | None:
    try:
        return _asset_events(cluster)
    except httpx.HTTPStatusError as error:  # Airflow 3.3 answers 500 while a run an event created is still queued
        if error.response.status_code == 500:
            return None
        raise


def _runs(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"])


def _settled(cluster: Cluster, events: int) -> bool:
    """``events`` asset events, each consumed by a DAG run (several may share one), and every run finished."""
    found = _asset_events_or_none(cluster)
    if found is None:
        return False
    runs = _runs(cluster)
    consumed = all(event.get("created_dagruns") for event in found)
    return len(found) == events and consumed and all(run["state"] in ("success", "failed") for run in runs)


def _first_seen(cluster: Cluster) -> list[str]:
    """Every id a run's ``record_outcomes`` saw for the first time (its return value), over all runs."""
    seen: list[str] = []
    for run in _runs(cluster):
        path = f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/record_outcomes/xcomEntries/return_value"
        seen += cluster.api("GET", path, params={"deserialize": "true", "stringify": "false"})["value"]
    return seen


def _watcher_polls(cluster: Cluster) -> int:
    """Listings of the watched assistant's events: the trigger is running in the triggerer once they appear."""
    return sum(e["route"] == "list" for e in cluster.sim("GET", "/journal"))


def _call(cluster: Cluster, target: str) -> str:
    """Schedule a call five seconds ahead (the simulator's time scale makes it last about a second)."""
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat(),
    }
    answer = httpx.post(
        f"{cluster.simulator_url}/ai/assistants/assistant-demo/scheduled_events",
        json=body,
        headers={"Authorization": "Bearer KEYdeployment_test"},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["scheduled_event_id"])


def test_a_run_per_finished_call_and_a_triggerer_restart_reprocesses_nothing(cluster: Cluster) -> None:
    waited_for_watcher = _wait(lambda: _watcher_polls(cluster) > 0, "the triggerer runs the watcher", 240)
    # Two answered, one dispatch that fails, one 20-minute call (20 s at the simulator's pace), one never answered.
    created = [
        _call(cluster, t) for t in ("+13125550100", "+13125550103", "+13125550100", "+13125550104", "+13125550102")
    ]
    started = time.monotonic()
    _wait(lambda: _settled(cluster, CALLS), f"{CALLS} asset events and their runs finished", 300)
    seconds_to_runs = time.monotonic() - started
    assert sorted(_first_seen(cluster)) == sorted(created)
    lists_before = _watcher_polls(cluster)

    cluster.kill("triggerer", signal.SIGKILL)
    cluster.start("triggerer-restarted", str(Path(sys.executable).parent / "airflow"), "triggerer")
    _wait(lambda: len(_asset_events_or_none(cluster) or []) >= 2 * CALLS, "the restarted trigger's redelivery", 300)
    # Airflow before 3.4 attaches asset events that arrive together to the *next* run (apache/airflow#54659): the
    # redelivery arrives as one burst, so one more finished call brings its tail in.
    nudge = _call(cluster, "+13125550100")
    _wait(lambda: _settled(cluster, 2 * CALLS + 1), "every asset event consumed by a finished run", 420)

    events = _asset_events(cluster)
    runs = _runs(cluster)
    journal = cluster.sim("GET", "/journal")
    with closing(sqlite3.connect(Path(cluster.env["TELNYX_OUTCOMES_DB"]))) as db:
        recorded = dict(db.execute("SELECT scheduled_event_id, status FROM call_outcomes").fetchall())
    FIGURES["event-driven DAG: 5 calls, then the triggerer killed (SIGKILL) and restarted"] = {
        "seconds until the triggerer ran the watcher": round(waited_for_watcher, 1),
        "seconds from the calls' time to their runs finishing": round(seconds_to_runs, 1),
        "asset events (5 + 5 redelivered + 1 later call)": len(events),
        "DAG runs": len(runs),
        "calls recorded": len(recorded),
        "list requests before the restart": lists_before,
        "requests other than list and the test's creates": sum(e["route"] not in ("list", "create") for e in journal),
    }
    assert {run["state"] for run in runs} == {"success"}
    delivered = sorted(e["extra"]["payload"]["scheduled_event_id"] for e in events)
    assert delivered == sorted([*created, *created, nudge])  # at least once: the look-back was delivered again
    assert sorted(_first_seen(cluster)) == sorted([*created, nudge])  # processed once: the redelivery was not new
    assert sorted(recorded) == sorted([*created, nudge])
    assert sorted(recorded.values()) == ["completed"] * 4 + ["failed"] * 2
    assert {e["route"] for e in journal} <= {"list", "create"}  # the trigger only lists
