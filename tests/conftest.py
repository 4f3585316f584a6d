"""Test-wide fixtures and hooks (the environment itself, a throwaway AIRFLOW_HOME, is set by tests/environment.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import settings

# Airflow reads its home and config at import time: the environment is set before anything imports it.
from tests.environment import API_KEY, BASE_URL  # noqa: F401 (imported from here by test modules)

# Hypothesis profiles for the tests that leave the number of examples to the profile (tests/reliability/
# test_generative.py; the others set theirs explicitly). `make test` passes --hypothesis-profile=ci: at least 500
# examples per test, derandomized so a CI failure replays exactly, and no example database. Local runs default to
# `dev`, a few dozen random examples; HYPOTHESIS_PROFILE=ci (or the pytest option) selects the other.
settings.register_profile("ci", max_examples=500, deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

from airflow_provider_telnyx.testing.clock import ManualClock  # noqa: E402
from airflow_provider_telnyx.testing.simulator import Simulator  # noqa: E402
from tests.harness import SimulatorConnection  # noqa: E402

#: The simulator's wall clock starts here unless the test module sets its own ``START``.
START = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)

#: Every assistant id the tests use: the simulator answers 404 for any other, as the API does.
TEST_ASSISTANTS = (
    "assistant-1",
    "assistant-ok",
    "assistant-secrets",
    "assistant-late",
    "assistant-mapped",
    "assistant-broken",
    "assistant-echo",
    "assistant-hostile",
    "assistant-trig",
    "assistant-storm",
    "assistant-restart",
    "assistant-parity",
    "assistant-ops",
    "assistant-once",
    "assistant-e2e",
    "assistant-bench",
    "assistant-batch",
    "assistant-7f3c",
    "assistant-x",
    "assistant-other",
    "assistant-ada",
    "assistant-9",
)


@pytest.fixture
def telnyx_simulator(telnyx_simulator: Simulator) -> Iterator[Simulator]:
    """The plugin's fixture with the tests' assistants, plus a contract check: every answer it gave must conform
    to the OpenAPI spec."""
    from tests.contract.openapi import violations

    telnyx_simulator.add_assistants(*TEST_ASSISTANTS)
    telnyx_simulator.record_exchanges = True
    yield telnyx_simulator
    problems = violations(telnyx_simulator.exchanges)
    assert not problems, "simulator answers that break the spec:\n" + "\n".join(problems[:10])


@pytest.fixture
def clock(request: pytest.FixtureRequest, telnyx_simulator: Simulator) -> ManualClock:
    """A manual wall clock for the simulator, starting at the test module's ``START`` (or this file's)."""
    telnyx_simulator.clock = ManualClock(getattr(request.module, "START", START))
    return telnyx_simulator.clock


@pytest.fixture
def sim(telnyx_simulator: Simulator, clock: ManualClock) -> Simulator:
    """The simulator on the manual ``clock`` (its wall clock starts at the test module's ``START``), with
    ``telnyx_default`` pointing at it (the plugin's fixture defines that connection)."""
    return telnyx_simulator


@pytest.fixture
def simulator_connection(telnyx_simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> SimulatorConnection:
    """Define a connection to the simulator by environment variable and return its fields.

    ``simulator_connection("telnyx_fragile", max_retries=0)`` defines ``telnyx_fragile`` with that extra;
    ``password=`` or ``host=`` replace the simulator's own.
    """

    def define(conn_id: str = "telnyx_default", *, password: str | None = None, **extra: Any) -> dict[str, Any]:
        conn: dict[str, Any] = json.loads(telnyx_simulator.connection_json())
        if password is not None:
            conn["password"] = password
        if extra:
            conn["extra"] = extra
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn

    return define


#: Fixtures that make a test an integration test: a served simulator, or an Airflow metadata database.
INTEGRATION_FIXTURES = frozenset({"telnyx_simulator", "airflow_db"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that serves the simulator or runs Airflow ``integration``: ``-m "not integration"`` leaves
    the pure unit tests, which run in seconds."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With ``TELNYX_COMPAT_RESULTS`` set (``make test-compat``), append ``<outcome> <node id>`` per test to it.

    The compatibility page's cells are read from these lines: a cell says "yes" only for tests that passed there.
    """
    target = os.environ.get("TELNYX_COMPAT_RESULTS")
    if not target or (report.when != "call" and not (report.failed or report.skipped)):
        return
    with open(target, "a") as out:
        out.write(f"{report.outcome} {report.nodeid}\n")
