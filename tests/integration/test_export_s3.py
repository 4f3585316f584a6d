"""The export to a real S3 API on loopback (moto's server), through Airflow's object storage and the Amazon
provider, as ``s3://<conn_id>@bucket/key``: JSON Lines and Parquet whole, an odd record repaired there too, an
existing "folder" (keys under the prefix) refused before any request, and no temporary object left behind, whether
the export succeeds or fails. Nothing leaves the machine: fake credentials, no metadata service, one endpoint."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.integration.test_export_records import ODD_MESSAGE, message, raising_at_progress

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

START = datetime(2031, 5, 2, 10, 0, tzinfo=timezone.utc)
DAY = datetime(2031, 5, 1, tzinfo=timezone.utc)
ASSISTANT = "assistant-1"
CONN_ID = "s3_exports"
BUCKET = "telnyx-exports"
#: Every AWS setting boto reads that could reach beyond loopback, pinned.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, an ``aws`` connection ``s3_exports`` to it, and the bucket."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY"):
            patch.delenv(name, raising=False)
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        patch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
        client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    server.stop()


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """The S3 client and a prefix of this test's own (emptied afterwards)."""
    s3 = client(s3_endpoint)
    prefix = "exports/" + request.node.name.replace("[", "-").replace("]", "")
    yield s3, prefix
    for key in keys(s3, prefix):
        s3.delete_object(Bucket=BUCKET, Key=key)


def keys(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def body(s3: Any, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def seed_calls(sim: Simulator, count: int) -> list[str]:
    call = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
    }
    return [
        sim.seed_event(ASSISTANT, {**call, "scheduled_at_fixed_datetime": (DAY + timedelta(hours=i + 1)).isoformat()})
        for i in range(count)
    ]


def export(destination: str, **kwargs: Any) -> dict[str, Any]:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=destination, include_insights=True, **kwargs
    )
    ti = mock.MagicMock(dag_id="dag", run_id="run-1", task_id="export", map_index=-1)
    context = {"ti": ti, "data_interval_start": DAY, "data_interval_end": DAY + timedelta(days=1)}
    return operator.execute(context)  # type: ignore[arg-type]  # a plain dict for Airflow's Context


def url(key: str) -> str:
    return f"s3://{CONN_ID}@{BUCKET}/{key}"


def without_export_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in record.items() if name != "exported_at"} for record in records]


def test_json_lines_to_s3_are_the_records_a_local_file_gets_and_no_temporary_object_stays(
    sim: Simulator, s3: tuple[Any, str], tmp_path: Any
) -> None:
    client, prefix = s3
    ids = seed_calls(sim, 3)
    key = f"{prefix}/2031-05-01/calls.jsonl"
    summary = export(url(key))
    export(f"file://{tmp_path / 'calls.jsonl'}")
    written = [json.loads(line) for line in body(client, key).decode().splitlines()]
    local = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [r["scheduled_event_id"] for r in written] == ids
    assert without_export_time(written) == without_export_time(local)
    assert (summary["path"], summary["rows"], summary["bytes"]) == (url(key), 3, len(body(client, key)))
    assert keys(client, prefix) == [key]
    export(url(key))  # a retry rewrites the object whole
    assert len(body(client, key).decode().splitlines()) == 3
    assert keys(client, prefix) == [key]


def test_parquet_to_s3_with_an_odd_record_repaired(sim: Simulator, s3: tuple[Any, str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    client, prefix = s3
    ids = seed_calls(sim, 3)
    sim.script_transcript(ids[2], [message(0), ODD_MESSAGE])
    key = f"{prefix}/calls.parquet"
    summary = export(url(key))
    rows = pq.read_table(io.BytesIO(body(client, key))).to_pylist()
    assert [r["scheduled_event_id"] for r in rows] == ids
    assert (summary["format"], summary["repaired_records"], summary["repaired_event_ids"]) == ("parquet", 1, [ids[2]])
    assert rows[2]["messages"][1]["text"] == "Sure \ufffd see you then"
    assert [len(r["messages"]) for r in rows[:2]] == [7, 7]
    assert keys(client, prefix) == [key]


def test_json_lines_to_s3_with_an_odd_record_repaired(sim: Simulator, s3: tuple[Any, str]) -> None:
    client, prefix = s3
    ids = seed_calls(sim, 3)
    sim.script_transcript(ids[0], [ODD_MESSAGE])
    key = f"{prefix}/calls.jsonl"
    summary = export(url(key))
    rows = [json.loads(line) for line in body(client, key).decode("utf-8").splitlines()]
    assert (summary["repaired_records"], summary["repaired_event_ids"]) == (1, [ids[0]])
    assert rows[0]["messages"][0]["metadata"]["sentiment"] is None
    assert [len(r["messages"]) for r in rows[1:]] == [7, 7]


def test_an_existing_prefix_as_destination_fails_before_any_request(sim: Simulator, s3: tuple[Any, str]) -> None:
    client, prefix = s3
    seed_calls(sim, 1)
    folder = f"{prefix}/calls.jsonl"
    client.put_object(Bucket=BUCKET, Key=f"{folder}/part-0.jsonl", Body=b"{}\n")
    sim.clear_journal()
    with pytest.raises(TelnyxInvalidInputError, match=rf"destination: {url(folder)} is an existing folder"):
        export(url(folder))
    assert sim.journal == []
    assert keys(client, prefix) == [f"{folder}/part-0.jsonl"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, lambda: RuntimeError("a bug")], ids=["interrupt", "bug"])
def test_a_failed_export_to_s3_leaves_no_temporary_object_and_the_last_object_whole(
    sim: Simulator, s3: tuple[Any, str], error: Callable[[], BaseException]
) -> None:
    client, prefix = s3
    seed_calls(sim, 3)
    key = f"{prefix}/calls.jsonl"
    export(url(key))
    complete = body(client, key)
    with raising_at_progress(error), pytest.raises(type(error())):
        export(url(key), progress_interval=0.000001)
    assert body(client, key) == complete
    assert keys(client, prefix) == [key]


def test_a_destination_in_a_missing_bucket_is_refused_before_any_request(sim: Simulator, s3_endpoint: str) -> None:
    """A mistyped bucket (``telnyx-exprots``) is refused, naming ``destination``; object storage would create it
    through the parent folder's ``mkdir`` and the file would land there."""
    seed_calls(sim, 1)
    s3 = client(s3_endpoint)
    typo = "telnyx-exprots"
    sim.clear_journal()
    try:
        with pytest.raises(
            TelnyxInvalidInputError, match=rf"destination: .*the bucket s3://{CONN_ID}@{typo}/ does not"
        ):
            export(f"s3://{CONN_ID}@{typo}/calls/2031-05-01/events.jsonl")
        assert sim.journal == []
        assert typo not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    finally:
        if typo in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
            for item in s3.list_objects_v2(Bucket=typo).get("Contents", []):
                s3.delete_object(Bucket=typo, Key=item["Key"])
            s3.delete_bucket(Bucket=typo)


def test_a_try_removes_the_temporary_object_a_killed_try_left(sim: Simulator, s3: tuple[Any, str]) -> None:
    client, prefix = s3
    seed_calls(sim, 1)
    key = f"{prefix}/calls.jsonl"
    stale, other = f"{prefix}/.calls.jsonl.0123456789ab.tmp", f"{prefix}/.calls.jsonl.notours.tmp"
    for name in (stale, other):
        client.put_object(Bucket=BUCKET, Key=name, Body=b"half a file")
    export(url(key))
    assert keys(client, prefix) == sorted([key, other])
