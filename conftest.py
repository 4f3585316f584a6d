"""The documentation's code blocks as tests: README.md and docs/ (tests/doc_blocks.py says how each kind runs).

At the repository root because a conftest's hooks see only the files under its directory; tests/conftest.py holds
the fixtures of the test suite proper. Both import tests/environment.py before anything imports Airflow, which
reads its home and configuration when it is first imported.
"""

from __future__ import annotations

import pytest
from sybil.integration.pytest import SybilItem

from tests.environment import migrate_airflow_db

pytest.register_assert_rewrite("tests.doc_blocks")  # its assertions explain a failing block
from tests.doc_blocks import DOCS, marks  # noqa: E402

pytest_collect_file = DOCS.pytest()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Make pytest-cov's ``no_cover`` untrace in pytest-xdist workers as it does in one process.

    A worker parses the controller's command line (``-n 3 --cov``), so pytest-cov 7.1 starts a controller's coverage
    in it, then the worker's own on top: ``no_cover`` stops the worker's, and the one beneath resumes tracing. Every
    ``no_cover`` test ran traced (the rate limiter's simulations 3x slower), its lines recorded where nothing reads
    them: that coverage is stopped here, before pytest-cov starts the worker's (tests/unit/test_no_cover.py checks).
    """
    if not hasattr(session.config, "workerinput"):
        return
    plugin = session.config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if controller is not None and type(controller).__name__ == "DistMaster":
        controller.cov.stop()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Run ``airflow db migrate`` once for the session's throwaway AIRFLOW_HOME (needed by ``dag.test()``)."""
    migrate_airflow_db()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A documentation block's item gets a timeout; every block of a page gets ``integration`` (and
    ``long_running``) when one of them runs Airflow or a process: a page's blocks share a namespace and its skip
    directives apply to the block after them, so a page runs whole or not at all. Then the modules and pages are
    put in the order ``make suite`` hands them to its workers (:func:`_long_running_first`)."""
    pages: dict[pytest.Collector | None, list[SybilItem]] = {}
    for item in items:
        if isinstance(item, SybilItem):
            pages.setdefault(item.parent, []).append(item)
    for page in pages.values():
        page_marks = [marks(item.example) for item in page]
        integration = any(mark.name == "integration" for item_marks in page_marks for mark in item_marks)
        for item, item_marks in zip(page, page_marks, strict=True):
            for mark in item_marks:
                item.add_marker(mark)
            if integration and not any(mark.name == "integration" for mark in item_marks):
                item.add_marker(pytest.mark.integration)
            if integration:
                item.add_marker(pytest.mark.long_running)
    _long_running_first(items)


def _long_running_first(items: list[pytest.Item]) -> None:
    """Order the modules (and pages) by their number of tests, as pytest-xdist's ``--dist loadscope`` orders the
    scopes it hands out, but those marked ``long_running`` first: ``make suite`` passes ``--no-loadscope-reorder``,
    so a worker starts on a one-test module that takes a minute (the wheel build) at the start, not as the others
    end. Each module's tests keep their order, and modules of one kind theirs."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = sorted(
        modules.values(),
        key=lambda tests: (not any(test.get_closest_marker("long_running") for test in tests), -len(tests)),
    )
    items[:] = [item for tests in order for item in tests]
