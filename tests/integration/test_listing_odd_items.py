"""One odd item in a listing page, from a hand-written server (not the project's simulator): the page's other
items are read and acted on. The export's side (odd events, messages and insights runs written or counted) is in
``test_export_records.py``; the pager's rules are in ``tests/unit/hooks/test_paging.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventsSensor
from tests.harness import run_sensor
from tests.integration.test_export_records import RawApi, raw_event

pytestmark = pytest.mark.integration  # a hand-written server on loopback


def test_a_malformed_event_of_someone_else_in_the_listing_does_not_sink_the_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The assistant's listing holds our three completed events and one other event without
    ``telnyx_agent_target`` (not ours, not waited for): our three rows are ``completed``, the other one skipped
    with a warning naming it."""
    foreign = (
        '{"scheduled_event_id":"event-9","assistant_id":"assistant-1","telnyx_conversation_channel":"phone_call",'
        '"telnyx_end_user_target":"+13125550100","scheduled_at_fixed_datetime":"2031-05-01T09:00:00Z"}'
    )
    ours = [raw_event(n) for n in (1, 2, 3)]
    listing = f'{{"data":[{",".join([*ours, foreign])}],"meta":{{"total_pages":1,"page_number":1}}}}'
    answers = {"/v2/ai/assistants/assistant-1/scheduled_events": listing.encode()}
    for number, body in zip((1, 2, 3), ours, strict=True):
        answers[f"/v2/ai/assistants/assistant-1/scheduled_events/event-{number}"] = body.encode()
    with RawApi(answers) as api:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TELNYX_RAW", json.dumps({"conn_type": "telnyx", "password": "KEYraw", "host": api.url})
        )
        sensor = TelnyxScheduledEventsSensor(
            task_id="wait",
            assistant_id="assistant-1",
            scheduled_event_ids=["event-1", "event-2", "event-3"],
            fail_on_failure=False,
            telnyx_conn_id="telnyx_raw",
            timeout=60,
        )
        with caplog.at_level("WARNING", logger="airflow_provider_telnyx.hooks._paging"):
            outcome: Any = run_sensor(sensor, "poke")
    assert outcome.state == "success", outcome.message
    assert outcome.value["counts"]["completed"] == 3
    assert any("event-9 does not match the documented schema" in r.getMessage() for r in caplog.records)
