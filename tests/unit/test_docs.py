from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_telnyx.testing.simulator import outcome_table_markdown

DOCS = Path(__file__).parents[2] / "docs"


def test_simulator_page_shows_the_outcome_table_the_code_uses() -> None:
    page = (DOCS / "simulator.md").read_text()
    start = page.index("-->", page.index("<!-- outcome-table")) + 3
    end = page.index("<!-- end outcome-table -->")
    assert page[start:end].strip() == outcome_table_markdown()


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("scheduled_events.openapi.yaml", "create_scheduled_event"),
        ("conversations.openapi.yaml", "get_conversations_public__conversation_id__messages_get"),
    ],
)
def test_spec_copy_is_verbatim(name: str, operation: str) -> None:
    copy = Path(__file__).parents[1] / "contract" / name
    original = Path(__file__).parents[3] / "shared" / "telnyx-api" / name
    if original.exists():  # CI lays shared/ beside the clone; a bare clone has only the copy
        assert copy.read_bytes() == original.read_bytes()
    assert operation in copy.read_text()


def test_architecture_page_names_files_that_exist() -> None:
    """Every file the architecture page sends a reader to exists, and every package module is on it."""
    import re

    root = Path(__file__).parents[2]
    package = root / "airflow_provider_telnyx"
    page = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"`([\w/]+\.(?:py|md))`", page))
    basenames = {path.name for path in package.rglob("*.py")}
    missing = [
        name
        for name in named
        if not ((root / name).exists() or (package / name).exists() or (DOCS / name).exists())
        and not ("/" not in name and name in basenames)
    ]
    assert sorted(missing) == []
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py" and "testing" not in path.parts
    }
    unnamed = sorted(module for module in modules if module not in named and path_named(module, page) is False)
    assert unnamed == []


def path_named(module: str, page: str) -> bool:
    """A module is named by its path, or inside a listing such as ``models/`` (``enums.py``, ...)."""
    return f"`{module}`" in page or f"`{module.rsplit('/', 1)[-1]}`" in page


def test_export_page_shows_the_schema_the_code_writes() -> None:
    """The how-to's JSON Schema file and its column table are the ones the export writes."""
    import json

    from airflow_provider_telnyx.models.export import export_json_schema

    assert json.loads((DOCS / "howto" / "export-record.schema.json").read_text()) == export_json_schema()
    pytest.importorskip("pyarrow")
    from airflow_provider_telnyx.utils.export_files import parquet_schema

    page = (DOCS / "howto" / "export.md").read_text()
    table = page[page.index("<!-- export-columns") : page.index("<!-- end export-columns -->")]
    rows = [line.split(" | ")[:2] for line in table.splitlines() if line.startswith("| `")]
    assert [(name.strip("| `"), kind.strip("`")) for name, kind in rows] == [
        (field.name, str(field.type)) for field in parquet_schema()
    ]
    assert [field.name for field in parquet_schema()] == list(export_json_schema()["properties"])
