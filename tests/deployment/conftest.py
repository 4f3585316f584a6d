"""``make test-deployment`` writes the figures of every scenario once the session ends."""

from __future__ import annotations

import pytest

from tests.deployment.report import write_report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    write_report()
