from __future__ import annotations

from pathlib import Path

from airflow_provider_telnyx.testing.simulator import outcome_table_markdown

DOCS = Path(__file__).parents[2] / "docs"


def test_simulator_page_shows_the_outcome_table_the_code_uses() -> None:
    page = (DOCS / "simulator.md").read_text()
    start = page.index("-->", page.index("<!-- outcome-table")) + 3
    end = page.index("<!-- end outcome-table -->")
    assert page[start:end].strip() == outcome_table_markdown()


def test_spec_copy_is_verbatim() -> None:
    copy = Path(__file__).parents[1] / "contract" / "scheduled_events.openapi.yaml"
    original = Path(__file__).parents[3] / "shared" / "telnyx-api" / "scheduled_events.openapi.yaml"
    if original.exists():  # CI lays shared/ beside the clone; a bare clone has only the copy
        assert copy.read_bytes() == original.read_bytes()
    assert "create_scheduled_event" in copy.read_text()
