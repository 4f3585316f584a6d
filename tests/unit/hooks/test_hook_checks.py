"""The hook's own checks: bad arguments and connections refused before any request, an answer about another event
refused after one."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks import telnyx as telnyx_module
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from tests.environment import API_KEY
from tests.unit.mock_api import MockApi, event_json, run

MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("request_", [["phone_call", "+13125550100"], "phone_call", 42, None])
def test_a_create_request_that_is_no_mapping_is_refused_before_sending(mode: str, request_: Any) -> None:
    api = MockApi().script(httpx.Response(201, json=event_json()))
    with pytest.raises(TelnyxInvalidInputError) as caught:
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", request_)
    assert caught.value.problems == (("request", "must be a ScheduledEventRequest or a mapping of API fields"),)
    assert caught.value.subject == "scheduled event request"
    assert api.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_about_another_event_is_refused(mode: str) -> None:
    api = MockApi().script(httpx.Response(200, json=event_json(scheduled_event_id="evt-2", status="completed")))
    with pytest.raises(TelnyxInvalidResponseError) as caught:
        run(api.hook(max_retries=3), mode, "get_scheduled_event", "assistant-1", "evt-1")
    assert str(caught.value) == (
        "Telnyx API GET /ai/assistants/assistant-1/scheduled_events/evt-1 answered another event (evt-2)"
    )
    assert caught.value.method == "GET"
    assert len(api.requests) == 1  # not retried: asking again would not make it the event asked for


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, 0.0, -1.0, True])
def test_a_timeout_override_that_is_not_a_finite_positive_number_is_refused(timeout: float) -> None:
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook(timeout=timeout)
    with pytest.raises(TelnyxInvalidInputError) as caught:
        hook.get_scheduled_event("assistant-1", "evt-1")
    assert caught.value.problems == (("timeout", "must be a finite, positive number"),)
    assert str(caught.value) == "Invalid hook: timeout: must be a finite, positive number"
    assert api.requests == []


@pytest.mark.parametrize("max_connections", [0, -1, True, 2.5, "10"])
def test_a_max_connections_that_is_not_a_positive_integer_is_refused_at_once(max_connections: Any) -> None:
    with pytest.raises(TelnyxInvalidInputError) as caught:
        TelnyxHook(max_connections=max_connections)
    assert caught.value.problems == (("max_connections", "must be a positive integer"),)


def test_a_timeout_override_replaces_the_connections() -> None:
    assert MockApi().hook(timeout=2).get_config().timeout == 2.0
    assert MockApi().hook().get_config().timeout != 2.0


def test_a_connection_without_a_key_is_refused_and_nothing_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr(telnyx_module, "mask_secret", masked.append)
    keyless = {"conn_type": "telnyx", "host": "https://telnyx.test/v2"}
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_KEYLESS", json.dumps(keyless))
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook(telnyx_conn_id="telnyx_keyless")
    with pytest.raises(TelnyxInvalidInputError) as caught:
        hook.get_scheduled_event("assistant-1", "evt-1")
    assert caught.value.problems == (("password", "the API key is missing: put it in the connection's password field"),)
    assert masked == []
    assert api.requests == []
    # A connection with a key: the key is registered with Airflow's masker as it is read.
    MockApi().hook().get_config()
    assert masked == [API_KEY]


WARNING = "The telnyx connection telnyx_insecure sends the API key over plain http://"


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """What the hook logged, wherever the Airflow version sends task logs (the logging tree, or structlog's stdout)."""
    return caplog.text + capsys.readouterr().out


def test_an_allowed_insecure_connection_is_used_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    insecure = {
        "conn_type": "telnyx",
        "password": API_KEY,
        "host": "http://gateway.internal/v2",
        "extra": {"allow_insecure_http": True},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_INSECURE", json.dumps(insecure))
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook(telnyx_conn_id="telnyx_insecure")
    capsys.readouterr()
    with caplog.at_level("WARNING"):
        assert hook.get_scheduled_event("assistant-1", "evt-1").event_id == "evt-1"
        hook.get_scheduled_event("assistant-1", "evt-1")
    assert str(api.requests[0].url) == "http://gateway.internal/v2/ai/assistants/assistant-1/scheduled_events/evt-1"
    out = capsys.readouterr().out
    # Wherever the Airflow version sends task logs (the logging tree, structlog's stdout, or both on 3.0: the same
    # record twice), each place shows it once per hook (the connection is read once), at WARNING level, never the key.
    records = [r for r in caplog.records if WARNING in r.getMessage()]
    printed = [line for line in out.splitlines() if WARNING in line]
    assert 1 <= len(records) + len(printed) <= 2
    assert len(records) <= 1
    assert len(printed) <= 1
    assert all(r.levelname == "WARNING" for r in records)
    assert all("warning" in line.lower() for line in printed)  # "WARNING" or structlog's "[warning ]"
    assert API_KEY not in caplog.text + out


def test_a_secure_connection_warns_nothing(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with caplog.at_level("WARNING"):
        MockApi().hook().get_config()
    assert "plain http://" not in logged(caplog, capsys)
