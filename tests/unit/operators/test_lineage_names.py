"""The export's OpenLineage output names the object the export wrote (issue 24, item 3)."""

from __future__ import annotations

import pytest

from airflow_provider_telnyx.operators._lineage import destination_dataset_name
from airflow_provider_telnyx.utils.export_files import destination_path


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("s3://exports/calls#wave-1.jsonl", ("s3://exports", "calls#wave-1.jsonl")),
        ("gs://exports/daily/calls#2.parquet", ("gs://exports", "daily/calls#2.parquet")),
        ("file:///data/calls#1.jsonl", ("file", "/data/calls#1.jsonl")),
    ],
)
def test_a_hash_in_the_destination_is_part_of_the_dataset_name(destination: str, expected: tuple[str, str]) -> None:
    """Issue 24: "output dataset: the destination, named as the OpenLineage naming spec says". ``#`` is a valid
    character of an object key and of a file name: the export writes ``calls#wave-1.jsonl``, and the lineage names
    that object, not ``calls`` (a URL fragment)."""
    written = destination_path(destination)  # accepted by the export, written at this path
    assert str(written).endswith(expected[1])
    assert destination_dataset_name(destination, lambda _: None) == expected
