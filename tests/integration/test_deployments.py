"""Real Airflow processes against one simulator: two deployments sharing a Telnyx organization, and the CLI's
connection test for both connection forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_telnyx.testing.simulator import Simulator
from tests.environment import migrated_db

pytestmark = [pytest.mark.integration, pytest.mark.long_running]

AIRFLOW = Path(sys.executable).with_name("airflow")
TEST_DAGS = Path(__file__).parents[1] / "dags"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            **extra,
        }
    )
    return env


RUN_AT_NEW_YEAR = """
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="%s")
run = bag.get_dag("e2e_lost_response").test(run_after=datetime(2026, 1, 1, tzinfo=timezone.utc))
raise SystemExit(0 if run.state == "success" else 1)
""" % (TEST_DAGS / "e2e_scheduled_events.py")


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_two_deployments_in_one_organization_create_one_event_each(telnyx_simulator: Simulator, tmp_path: Path) -> None:
    """Same DAG, same run id, same organization: each deployment's retries reattach to its own event only."""
    conn = json.loads(telnyx_simulator.connection_json()) | {"extra": {"max_retries": 0}}
    for name in ("staging", "production"):
        home = tmp_path / name
        home.mkdir()
        env = airflow_env(home, AIRFLOW_CONN_TELNYX_NO_RETRIES=json.dumps(conn))
        migrated_db(home)
        telnyx_simulator.set_faults(lose_next_creates=1)  # each deployment's first create loses its answer
        # The same run id in both deployments, as two schedulers running the same DAG would produce.
        result = subprocess.run(
            [sys.executable, "-c", RUN_AT_NEW_YEAR], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    events = telnyx_simulator.events()
    assert len(events) == 2
    scopes = Counter(e["conversation_metadata"]["airflow_scope"] for e in events)
    assert len(scopes) == 2  # one random scope per deployment's task instance
    assert {e["conversation_metadata"]["airflow_run_id"] for e in events} == {"manual__2026-01-01T00:00:00+00:00"}
    creates = [(e.status, e.idempotency_key) for e in telnyx_simulator.journal if e.route == "create"]
    assert [status for status, _ in creates] == [502, 502]  # the retries created nothing: they reattached
    assert len({key for _, key in creates}) == 2  # two deployments, two keys


@pytest.mark.parametrize("form", ["json", "uri"])
def test_cli_connection_test_for_both_forms(telnyx_simulator: Simulator, tmp_path: Path, form: str) -> None:
    assert telnyx_simulator.base_url is not None
    host_port = telnyx_simulator.base_url.removeprefix("http://").removesuffix("/v2")
    if form == "json":
        value = telnyx_simulator.connection_json()
    else:
        value = f"telnyx://:{quote(telnyx_simulator.api_key, safe='')}@{host_port}/v2?timeout=10"
    env = airflow_env(tmp_path, AIRFLOW__CORE__TEST_CONNECTION="Enabled", AIRFLOW_CONN_TELNYX_CLI=value)
    migrated_db(tmp_path)
    result = run(["connections", "test", "telnyx_cli"], env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert [e.route for e in telnyx_simulator.journal] == ["assistants"]
    assert telnyx_simulator.api_key not in result.stdout + result.stderr
