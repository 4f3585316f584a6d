"""A test marked ``no_cover`` runs untraced, in one process and in every pytest-xdist worker (the root conftest.py
stops the second coverage pytest-cov starts in a worker): the reliability suite and the scale tests rely on it."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.no_cover
def test_a_no_cover_test_runs_untraced(request: pytest.FixtureRequest) -> None:
    if sys.gettrace() is not None and not request.config.getoption("cov_source", None):
        pytest.skip("traced by something pytest-cov does not control (a debugger, `coverage run`)")
    assert sys.gettrace() is None
    if sys.version_info >= (3, 12):
        assert sys.monitoring.get_tool(sys.monitoring.COVERAGE_ID) is None


def test_the_others_are_traced_when_coverage_measures(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.hasplugin("_cov") or request.config.getoption("no_cov", False):
        pytest.skip("coverage is not measuring this run")
    if not request.config.getoption("cov_source", None):
        pytest.skip("coverage is not measuring this run (no --cov)")
    assert sys.gettrace() is not None or (
        sys.version_info >= (3, 12) and sys.monitoring.get_tool(sys.monitoring.COVERAGE_ID) is not None
    )
