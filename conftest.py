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


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Run ``airflow db migrate`` once for the session's throwaway AIRFLOW_HOME (needed by ``dag.test()``)."""
    migrate_airflow_db()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A documentation block's item gets a timeout; every block of a page gets ``integration`` when one of them
    runs Airflow or a process: a page's blocks share a namespace and its skip directives apply to the block after
    them, so a page runs whole or not at all."""
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
