"""OpenLineage of real runs: an export to a local file and to S3 (moto's server on loopback) names the file it
wrote, with the columns the file holds; and under ``dag.test()`` with Airflow's OpenLineage listener and a file
transport, the COMPLETE events of a create and an export task link the two through one dataset, the
assistant's events, with no API key anywhere in what was emitted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage")

from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.utils.state import TaskInstanceState

from airflow_provider_telnyx.models.export import ExportRecord
from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.integration import test_export_s3 as on_s3
from tests.integration.test_export_s3 import ASSISTANT, BUCKET, START, body, keys, seed_calls, url

pytestmark = pytest.mark.long_running

# The S3 module's fixtures, reused: moto's server and a prefix of the test's own (`sim` is tests/conftest.py's,
# its clock at this module's START, the S3 module's).
s3_endpoint, s3 = on_s3.s3_endpoint, on_s3.s3

ROOT = Path(__file__).parents[2]


def lineage_of(task: Any) -> OperatorLineage[Any, Any]:
    """What the OpenLineage provider's extractor machinery gets from a task that succeeded (the manager returns it
    without type arguments)."""
    ti = SimpleNamespace(dag_id="dag", task_id=task.task_id, run_id="run-1", map_index=-1, try_number=1)
    return ExtractorManager().extract_metadata(SimpleNamespace(run_id="run-1"), task, TaskInstanceState.SUCCESS, ti)


def column_names(fields: Any) -> list[str]:
    return [field.name for field in fields]


def test_a_local_export_names_the_file_it_wrote_with_the_keys_its_records_hold(sim: Simulator, tmp_path: Path) -> None:
    ids = seed_calls(sim, 2)
    destination = tmp_path / "2031-05-01" / "calls.jsonl"
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=f"file://{destination}"
    )
    from tests.integration.test_export import context

    assert operator.execute(context())["rows"] == 2  # type: ignore[arg-type]  # test_export's context: a plain dict
    lineage = lineage_of(operator)
    [output] = lineage.outputs
    assert (output.namespace, output.name) == ("file", str(destination))
    records = [json.loads(line) for line in Path(output.name).read_text().splitlines()]  # the file named is there
    assert [r["scheduled_event_id"] for r in records] == ids
    assert all(list(record) == column_names(output.facets["schema"].fields) for record in records)
    [events] = lineage.inputs
    assert sim.base_url is not None
    assert (events.namespace, events.name) == (
        sim.base_url.removesuffix("/v2"),
        f"ai/assistants/{ASSISTANT}/scheduled_events",
    )


def test_an_s3_export_names_the_object_it_wrote_with_the_parquet_columns(sim: Simulator, s3: tuple[Any, str]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    client, prefix = s3
    seed_calls(sim, 2)
    key = f"{prefix}/2031-05-01/calls.parquet"
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=url(key), include_insights=True
    )
    from tests.integration.test_export import context

    operator.execute(context())  # type: ignore[arg-type]  # test_export's context: a plain dict
    [output] = lineage_of(operator).outputs
    assert (output.namespace, output.name) == (f"s3://{BUCKET}", key)  # no connection id (s3_exports) in it
    assert keys(client, prefix) == [output.name]
    written = pq.read_table(io.BytesIO(body(client, output.name)))
    assert written.column_names == column_names(output.facets["schema"].fields)
    facet_types = {field.name: field.type for field in output.facets["schema"].fields}
    for column in written.schema:  # the types the file was read back with
        kind = column.type
        if pa.types.is_list(kind):
            assert facet_types[column.name] == (
                "list" if pa.types.is_struct(kind.value_type) else f"list<{kind.value_type}>"
            )
        else:
            assert facet_types[column.name] == str(kind)


SCRIPT = """
import sys
from tests.dagrun import TEST_DAGS, load_dag
run = load_dag("lineage_create_then_export", TEST_DAGS, "lineage").test()
sys.exit(0 if run.state == "success" else 1)
"""


@pytest.mark.usefixtures("airflow_db")
def test_the_openlineage_listener_emits_the_linked_datasets_under_dag_test(sim: Simulator, tmp_path: Path) -> None:
    events_file = tmp_path / "openlineage.jsonl"
    destination = tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "telnyx-tests",
        "TELNYX_LINEAGE_EXPORT": f"file://{destination}",
        "TELNYX_LINEAGE_AT": (START + timedelta(hours=1)).isoformat(),  # an hour after the simulator's now
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    emitted = events_file.read_text()
    complete = {
        event["job"]["name"]: event
        for event in map(json.loads, emitted.splitlines())
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]
    }
    created = complete["lineage_create_then_export.schedule_call"]
    exported = complete["lineage_create_then_export.export_calls"]
    assert sim.base_url is not None
    events = {"namespace": sim.base_url.removesuffix("/v2"), "name": f"ai/assistants/{ASSISTANT}/scheduled_events"}
    assert [{k: d[k] for k in ("namespace", "name")} for d in created["outputs"]] == [events]
    assert [{k: d[k] for k in ("namespace", "name")} for d in exported["inputs"]] == [events]
    [output] = exported["outputs"]
    assert (output["namespace"], output["name"]) == ("file", str(destination))
    assert destination.exists()
    assert [field["name"] for field in output["facets"]["schema"]["fields"]] == list(ExportRecord.model_fields)
    assert sim.api_key not in emitted
