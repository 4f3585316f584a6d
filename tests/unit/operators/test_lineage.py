"""OpenLineage for the export and create operators, read the way Airflow's OpenLineage provider reads it: its own
``ExtractorManager`` picks the operator's ``get_openlineage_facets_on_complete`` and returns the provider's
``OperatorLineage``. Dataset names are checked against the OpenLineage client's naming helpers (the naming spec's
own implementation), the schema facet against the export record's model, and importing the operators must not
import OpenLineage at all (a DAG file that uses them parses at no cost)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage")

from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.extractors.base import DefaultExtractor
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.utils.state import TaskInstanceState
from openlineage.client.event_v2 import Dataset
from openlineage.client.naming import dataset as naming
from openlineage.client.serde import Serde

from airflow_provider_telnyx.models.export import (
    ExportAttempt,
    ExportInsight,
    ExportInsightResult,
    ExportMessage,
    ExportRecord,
    ExportToolCall,
)
from airflow_provider_telnyx.operators._lineage import (
    api_namespace,
    destination_dataset_name,
    record_schema_fields,
)
from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from tests.environment import API_KEY

ASSISTANT = "assistant-1"
#: The events of ASSISTANT as the tests' ``telnyx_default`` connection (https://telnyx.test/v2) names them.
EVENTS = Dataset(namespace="https://telnyx.test", name=f"ai/assistants/{ASSISTANT}/scheduled_events")


def extracted(task: Any, state: TaskInstanceState = TaskInstanceState.SUCCESS) -> OperatorLineage[Any, Any]:
    """The lineage the provider's own extractor machinery gets from ``task`` once it finished (the manager returns
    it without type arguments)."""
    manager = ExtractorManager()
    assert manager.get_extractor_class(task) is DefaultExtractor  # chosen for the method, no custom extractor
    ti = SimpleNamespace(dag_id="dag", task_id=task.task_id, run_id="run-1", map_index=-1, try_number=1)
    return manager.extract_metadata(SimpleNamespace(run_id="run-1"), task, state, ti)


def export(destination: str, **kwargs: Any) -> TelnyxExportScheduledEventsOperator:
    """An export whose ``destination`` template is rendered as Airflow renders it before ``execute``."""
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=destination, **kwargs
    )
    operator.render_template_fields({"ds": "2031-05-01"})
    return operator


def spec(helper: Any) -> tuple[str, str]:
    return helper.get_namespace(), helper.get_name()


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("file:///data/telnyx/{{ ds }}/events.jsonl", naming.LocalFileSystem("/data/telnyx/2031-05-01/events.jsonl")),
        ("/data/telnyx/events.jsonl", naming.LocalFileSystem("/data/telnyx/events.jsonl")),
        (
            "s3://aws_default@bucket/telnyx/{{ ds }}/events.parquet",
            naming.S3(bucket_name="bucket", object_key="telnyx/2031-05-01/events.parquet"),
        ),
        ("s3://bucket/events.jsonl", naming.S3(bucket_name="bucket", object_key="events.jsonl")),
        ("gs://google_cloud_default@bucket/a/b.jsonl", naming.GCS(bucket_name="bucket", object_key="a/b.jsonl")),
        ("gcs://bucket/a/b.jsonl", naming.GCS(bucket_name="bucket", object_key="a/b.jsonl")),
        (
            "abfss://exports@account.dfs.core.windows.net/telnyx/events.jsonl",
            naming.ABFSS(container="exports", service="account", path="telnyx/events.jsonl"),
        ),
    ],
)
def test_the_export_names_its_destination_as_the_naming_spec_does(destination: str, expected: Any) -> None:
    lineage = extracted(export(destination))
    [output] = lineage.outputs
    assert (output.namespace, output.name) == spec(expected)
    assert lineage.inputs == [EVENTS]


def test_an_object_storage_path_is_named_without_its_connection_id() -> None:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath("file:///data/telnyx/events.jsonl")
    assert destination_dataset_name(path) == spec(naming.LocalFileSystem("/data/telnyx/events.jsonl"))
    assert destination_dataset_name(ObjectStoragePath("s3://aws_default@bucket/k.jsonl")) == ("s3://bucket", "k.jsonl")


def test_an_abfs_container_is_named_with_the_account_its_connection_holds() -> None:
    asked: list[str] = []

    def account(destination: Any) -> str | None:
        asked.append(str(destination))
        return "account"

    name = destination_dataset_name("abfs://wasb_default@exports/telnyx/events.jsonl", account)
    assert name == spec(naming.ABFSS(container="exports", service="account", path="telnyx/events.jsonl"))
    assert asked == ["abfs://wasb_default@exports/telnyx/events.jsonl"]
    # Without the account (no Azure provider here), the name ObjectStoragePath gives the same file.
    assert destination_dataset_name("abfs://exports/events.jsonl", lambda _: None) == ("abfs://exports", "events.jsonl")
    assert destination_dataset_name("abfs://exports/events.jsonl") == ("abfs://exports", "events.jsonl")


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://api.telnyx.com/v2", "https://api.telnyx.com"),
        ("https://API.Telnyx.com:443/v2", "https://api.telnyx.com"),
        ("http://127.0.0.1:8765/v2", "http://127.0.0.1:8765"),
        ("http://[::1]:8080/v2", "http://[::1]:8080"),
        ("https://someone:KEYsecret@api.telnyx.com/v2?api_key=KEYsecret", "https://api.telnyx.com"),
    ],
)
def test_the_api_namespace_is_scheme_and_host_only(base_url: str, namespace: str) -> None:
    assert api_namespace(base_url) == namespace


def names(fields: Any) -> list[str]:
    return [field.name for field in fields or []]


def nested(fields: Any, name: str) -> Any:
    return next(field for field in fields if field.name == name).fields


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_the_schema_facet_holds_the_export_record_columns(file_format: str) -> None:
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    [output] = extracted(export(f"file:///data/events.{file_format}")).outputs
    fields = output.facets["schema"].fields
    assert names(fields) == list(ExportRecord.model_fields)
    assert names(nested(fields, "attempts")) == list(ExportAttempt.model_fields)
    assert names(nested(fields, "messages")) == list(ExportMessage.model_fields)
    assert names(nested(nested(fields, "messages"), "tool_calls")) == list(ExportToolCall.model_fields)
    assert names(nested(fields, "insights")) == list(ExportInsight.model_fields)
    assert names(nested(nested(fields, "insights"), "results")) == list(ExportInsightResult.model_fields)
    types = {field.name: field.type for field in fields}
    if file_format == "parquet":  # the types the Parquet file has
        assert types["scheduled_at"] == "timestamp[us, tz=UTC]"
        assert (types["call_duration"], types["errors"], types["event"]) == ("int64", "list<string>", "string")
    else:  # the JSON Schema's
        assert (types["scheduled_at"], types["call_duration"], types["errors"]) == (
            "date-time",
            "integer",
            "array<string>",
        )
        assert (types["event"], types["transcript_truncated"]) == ("object", "boolean")


def test_a_parquet_destination_without_pyarrow_is_still_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    [output] = extracted(export("s3://bucket/events.parquet")).outputs
    assert (output.namespace, output.name, output.facets) == ("s3://bucket", "events.parquet", {})
    assert names(record_schema_fields("jsonl")) == list(ExportRecord.model_fields)


@pytest.mark.parametrize(
    "operator",
    [
        lambda: TelnyxCreateScheduledEventOperator(
            task_id="create",
            assistant_id=ASSISTANT,
            end_user_target="+13125550100",
            agent_target="+13125550199",
            scheduled_at="2031-05-01T10:00:00+00:00",
        ),
        lambda: TelnyxCreateScheduledEventsOperator(task_id="create", assistant_id=ASSISTANT, events=[]),
    ],
    ids=["single", "batch"],
)
def test_the_create_operators_write_the_events_the_export_reads(operator: Any) -> None:
    lineage = extracted(operator())
    assert (lineage.inputs, lineage.outputs) == ([], [EVENTS])
    assert extracted(export("file:///data/events.jsonl")).inputs == lineage.outputs  # one dataset: linked
    assert extracted(operator(), TaskInstanceState.FAILED).outputs == [EVENTS]  # what a failed try meant to write


def test_another_connection_names_another_api(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "telnyx", "password": API_KEY, "host": "api.telnyx.com", "schema": "v2"}
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_PROD", json.dumps(conn))
    operator = TelnyxCreateScheduledEventsOperator(
        task_id="create", assistant_id=ASSISTANT, events=[], telnyx_conn_id="telnyx_prod"
    )
    [events] = extracted(operator).outputs
    assert (events.namespace, events.name) == ("https://api.telnyx.com", EVENTS.name)


def test_no_key_or_connection_id_in_the_serialized_lineage() -> None:
    lineages = [
        extracted(export("s3://aws_default@bucket/{{ ds }}/events.parquet")),
        extracted(TelnyxCreateScheduledEventsOperator(task_id="create", assistant_id=ASSISTANT, events=[])),
    ]
    text = "\n".join(Serde.to_json(lineage) for lineage in lineages)
    assert '"namespace": "s3://bucket"' in text  # what was serialized
    assert '"namespace": "https://telnyx.test"' in text
    assert API_KEY not in text
    assert "KEYtest" not in text
    assert "aws_default" not in text


def test_without_the_openlineage_provider_a_direct_call_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    with pytest.raises(ImportError, match=r"airflow-provider-telnyx\[openlineage\]"):
        export("file:///data/events.jsonl").get_openlineage_facets_on_complete(None)


def test_importing_the_operators_imports_no_openlineage() -> None:
    """A DAG file that uses the operators parses without importing OpenLineage (Airflow's own provider discovery
    may import the provider's ``get_provider_info``; nothing else of it, and none of the client, may come in)."""
    code = (
        "import json, sys\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        "client_before = [name for name in before if name.split('.')[0] == 'openlineage']\n"
        "import airflow_provider_telnyx.operators.export, airflow_provider_telnyx.operators.batch\n"
        "import airflow_provider_telnyx.operators.scheduled_event, airflow_provider_telnyx.operators._lineage\n"
        "ours = sorted(set(sys.modules) - before)\n"
        "import airflow.providers.openlineage.extractors\n"
        "print(json.dumps({'client_before': client_before, 'ours': ours, 'all': sorted(sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["client_before"] == []  # so that the difference below would show the client coming in
    assert "airflow_provider_telnyx.operators.export" in loaded["ours"]  # the probe saw our imports happen
    assert "openlineage.client" in loaded["all"]  # and would see OpenLineage's
    assert [name for name in loaded["ours"] if "openlineage" in name] == []
