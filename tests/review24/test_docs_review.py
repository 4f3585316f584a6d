"""Review of issue 24, item 5 (and item 4's "on Airflow versions without event-driven scheduling, the compatibility
page says so"): the docs promised by the issue exist and name what the issue names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat_matrix import FEATURES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def feature_rows() -> set[str]:
    rows = set()
    for line in PAGE.read_text().splitlines():
        if line.startswith("| ") and not line.startswith(("| Feature", "| Target", "|---")):
            rows.add(line.split("|")[1].strip())
    return rows


#: The rows issue 24 adds (``tests/compat_matrix.py`` declares them).
NEW = [f.name for f in FEATURES if f.name.startswith(("Event-driven", "Page the on-call", "Stopping", "OpenLineage"))]


@pytest.mark.parametrize("feature", NEW, ids=lambda name: name.split(" (")[0])
def test_the_compatibility_page_has_a_row_for_every_new_feature(feature: str) -> None:
    """Issue 24 item 5: "the compatibility page gains rows for each feature on every target". ``tests/compat_matrix.py``
    declares the four new features, but ``docs/compatibility.md`` was not regenerated (``make test-compat``): it has
    no row for stopping a campaign, the notifier, OpenLineage or event-driven DAGs, and its test counts are stale."""
    assert len(NEW) == 4
    assert feature in feature_rows()
