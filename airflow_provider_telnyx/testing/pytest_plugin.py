"""pytest plugin (entry point ``pytest11``, loaded automatically once the provider is installed).

The ``telnyx_simulator`` fixture starts the embedded simulator on a free loopback port for one test, points
the ``telnyx_default`` connection at it (``AIRFLOW_CONN_TELNYX_DEFAULT``), and yields the
:class:`~airflow_provider_telnyx.testing.simulator.Simulator` so a test can inject faults and read the
journal::

    def test_my_dag(telnyx_simulator):
        telnyx_simulator.set_faults(error_rate=0.3)
        my_dag.test()
        assert telnyx_simulator.stats()["events_created"] == 1

Options come from the ``telnyx_simulator`` marker, e.g.
``@pytest.mark.telnyx_simulator(assistants=["assistant-123"], time_scale=600, seed=7, faults=Faults(rate_limit=50))``.
Like the API, the simulator answers 404 for an assistant it does not know: register the ids your DAGs use
(``assistants=...`` or ``telnyx_simulator.add_assistants(...)``); ``assistant-demo`` is always there.
By default the event clock runs 60 times faster after dispatch (``time_scale=60``), so a call finishes within
about a second of its scheduled time. ``dag.test()`` also needs a migrated metadata database and the DAG's file in
the DAGs folder: the simulator page of the documentation (``docs/simulator.md``) shows a ``conftest.py`` for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_telnyx.testing.simulator import Simulator

DEFAULT_TIME_SCALE = 60.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``telnyx_simulator`` marker.

    :param config: pytest's config.
    """
    config.addinivalue_line(
        "markers", "telnyx_simulator(**options): options for the telnyx_simulator fixture (see Simulator)"
    )


@pytest.fixture
def telnyx_simulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A running simulator, with ``telnyx_default`` pointing at it for the duration of the test.

    :param request: pytest's request (reads the ``telnyx_simulator`` marker).
    :param monkeypatch: used to set ``AIRFLOW_CONN_TELNYX_DEFAULT``.
    """
    # Imported here, not at module level: pytest loads this plugin into every run of every project that has the
    # provider installed, and most never use the fixture.
    from airflow_provider_telnyx.testing.simulator import DEFAULT_ASSISTANTS, Simulator

    marker = request.node.get_closest_marker("telnyx_simulator")
    options = dict(marker.kwargs) if marker else {}
    options.setdefault("time_scale", DEFAULT_TIME_SCALE)
    options.setdefault("seed", 0)
    options["assistants"] = (*DEFAULT_ASSISTANTS, *options.get("assistants", ()))
    simulator = Simulator(**options)
    with simulator.serve_in_thread():
        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_DEFAULT", simulator.connection_json())
        yield simulator
