"""``TelnyxNotifier`` without a server: arguments checked at DAG parse, the body it sends, what it does with each
refusal, and that nothing it meets is raised into the task."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest

from airflow_provider_telnyx._compat import AIRFLOW_V_3_1_PLUS
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.notifications.telnyx import TelnyxNotifier
from tests.environment import API_KEY
from tests.unit.mock_api import MockApi, event_json, sms_json

if TYPE_CHECKING:
    from airflow.sdk import Context

NOW = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)
ENDED = NOW - timedelta(seconds=1)
SMS: dict[str, Any] = {
    "assistant_id": "assistant-1",
    "end_user_target": "+13125550110",
    "agent_target": "+13125550199",
    "conversation_channel": "sms_chat",
    "text": "Task {{ ti.task_id }} of {{ dag.dag_id }} failed",
}


def context(task_id: str = "load", **ti: Any) -> dict[str, Any]:
    fields = {"dag_id": "orders", "run_id": "r1", "task_id": task_id, "map_index": -1, "try_number": 1}
    instance = SimpleNamespace(**{**fields, "state": "failed", "end_date": ENDED, **ti})
    dag = SimpleNamespace(dag_id="orders", render_template_as_native_obj=False)
    return {"ti": instance, "dag": dag, "run_id": "r1", "exception": ValueError("bad row 7")}


def notifier(api: MockApi, **overrides: Any) -> TelnyxNotifier:
    built = TelnyxNotifier(**{**SMS, **overrides})
    built.clock = lambda: NOW
    built.__dict__["hook"] = api.hook(max_retries=0)  # the cached hook: every rendered copy shares it
    return built


def created() -> httpx.Response:
    return httpx.Response(201, json=sms_json(telnyx_end_user_target=SMS["end_user_target"]))


def logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out, err = capsys.readouterr()
    return out + err + caplog.text


def past_time() -> httpx.Response:
    error = {
        "code": "10032",
        "title": "Invalid scheduled event",
        "detail": "must be in the future.",
        "source": {"pointer": "/scheduled_at_fixed_datetime"},
    }
    return httpx.Response(400, json={"errors": [error]})


class TestConstruction:
    def test_keyword_only_without_io(self) -> None:
        built = TelnyxNotifier(**{**SMS, "telnyx_conn_id": "not_defined_anywhere"})
        assert "hook" not in built.__dict__
        assert built.scheduled_at == timedelta(seconds=10)
        assert TelnyxNotifier(**SMS, scheduled_at=30).scheduled_at == timedelta(seconds=30)
        with pytest.raises(TypeError):
            TelnyxNotifier("assistant-1", "+13125550110", "+13125550199")  # type: ignore[call-arg]  # positional, on purpose

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"conversation_channel": "sms"}, "conversation_channel"),
            ({"end_user_target": "5550110"}, "end_user_target"),
            ({"assistant_id": ""}, "assistant_id"),
            ({"assistant_id": "../other"}, "assistant_id"),
            ({"max_retries_client_errors": 2}, "max_retries_client_errors"),
            ({"conversation_channel": "phone_call", "max_retries_client_errors": 2}, "retry_interval_secs"),
            ({"conversation_metadata": {"team": {"nested": 1}}}, "conversation_metadata"),
            ({"dynamic_variables": {"count": 3}}, "dynamic_variables"),
            ({"scheduled_at": datetime(2031, 6, 1, 9, 0)}, "scheduled_at"),  # naive
            ({"call_settings": {"sip_region": "Mars"}}, "call_settings"),
        ],
    )
    def test_bad_arguments_fail_at_dag_parse_naming_the_argument(self, overrides: dict[str, Any], field: str) -> None:
        with pytest.raises(TelnyxInvalidInputError) as raised:
            TelnyxNotifier(**{**SMS, **overrides})
        assert raised.value.fields[0].split(".")[0] == field
        assert str(raised.value).startswith("Invalid TelnyxNotifier arguments: ")

    def test_templated_arguments_wait_for_rendering_and_the_rest_is_still_checked(self) -> None:
        templated = {"end_user_target": "{{ var.value.oncall }}", "dynamic_variables": {"who": "{{ ti.task_id }}"}}
        TelnyxNotifier(**{**SMS, **templated})
        with pytest.raises(TelnyxInvalidInputError) as raised:
            TelnyxNotifier(**{**SMS, **templated, "conversation_channel": "sms"})
        assert raised.value.fields == ("conversation_channel",)


class TestSending:
    def test_renders_a_fresh_copy_for_every_task(self) -> None:
        api = MockApi().script(created())
        page = notifier(api)
        page(context("load"))
        page(context("transform"))
        assert [api.body(i)["text"] for i in (0, 1)] == [
            "Task load of orders failed",
            "Task transform of orders failed",
        ]
        assert page.text == SMS["text"]  # the notifier itself keeps its templates
        first = api.body(0)
        assert first["scheduled_at_fixed_datetime"] == "2031-06-01T09:00:09Z"  # the try's end + 10 s
        assert first["dynamic_variables"]["reason"] == "ValueError: bad row 7"
        keys = [request.headers["Idempotency-Key"] for request in api.requests]
        assert keys[0] != keys[1]

    def test_default_sms_text_and_a_phone_call_without_text(self) -> None:
        api = MockApi().script(created())
        notifier(api, text=None)(context())
        assert api.body()["text"] == "Airflow failure: DAG orders, run r1, task load, try 1. ValueError: bad row 7"
        api = MockApi().script(httpx.Response(201, json=event_json(telnyx_end_user_target="+13125550110")))
        notifier(api, text=None, conversation_channel="phone_call", dynamic_variables={"team": "{{ ti.dag_id }}"})(
            context()
        )
        body = api.body()
        assert "text" not in body
        assert body["dynamic_variables"]["team"] == "orders"
        assert body["dynamic_variables"]["callback_kind"] == "failure"

    def test_late_time_is_sent_ten_seconds_from_now(self) -> None:
        api = MockApi().script(created())
        notifier(api, scheduled_at=timedelta(0))(context())
        assert api.body()["scheduled_at_fixed_datetime"] == "2031-06-01T09:00:10Z"

    def test_the_api_clock_says_past_the_request_is_retimed_once_with_the_same_key(self) -> None:
        api = MockApi().script(past_time(), created())
        page = notifier(api)
        page.clock = iter([NOW, NOW + timedelta(seconds=30)]).__next__
        page(context())
        assert [api.body(i)["scheduled_at_fixed_datetime"] for i in (0, 1)] == [
            "2031-06-01T09:00:09Z",
            "2031-06-01T09:00:40Z",
        ]
        assert len({request.headers["Idempotency-Key"] for request in api.requests}) == 1

    def test_key_already_used_means_already_sent(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        reused = {"errors": [{"code": "10027", "title": "Idempotency key reused", "detail": "Different request."}]}
        api = MockApi().script(httpx.Response(422, json=reused))
        notifier(api)(context())
        assert len(api.requests) == 1
        assert "was already sent by an earlier run of this callback" in logs(capsys, caplog)

    @pytest.mark.parametrize(
        "reply",
        [
            httpx.Response(503, json={"errors": [{"code": "10007", "title": "Unexpected error"}]}),
            httpx.Response(401, json={"errors": [{"code": "10009", "title": "Authentication failed"}]}),
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"unexpected": True}),
        ],
        ids=["503", "401", "connection", "bad answer"],
    )
    def test_a_failure_is_logged_never_raised(
        self, reply: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        api = MockApi().script(reply)
        notifier(api)(context())
        text = logs(capsys, caplog)
        assert "Telnyx notification for the failure callback of DAG orders, run r1, task load, try 1 not sent" in text
        assert API_KEY not in text

    def test_a_template_that_fails_to_render_is_logged_never_raised(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        api = MockApi().script(created())
        notifier(api, text="{{ ti.no_such_attribute.deeper }}")(context())
        assert api.requests == []
        assert "not sent" in logs(capsys, caplog)

    def test_a_bad_rendered_value_names_the_argument(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        api = MockApi().script(created())
        notifier(api, end_user_target="{{ ti.task_id }}")(context())
        assert api.requests == []
        assert "TelnyxInvalidInputError: Invalid TelnyxNotifier arguments: end_user_target" in logs(capsys, caplog)


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="BaseNotifier is awaitable from Airflow 3.1 (deadline alerts)")
def test_awaited_in_the_triggerer_with_a_deadline_context() -> None:
    api = MockApi().script(created())
    deadline = {"id": "d-1", "deadline_time": "2031-06-01T08:30:00+00:00"}
    # The context a deadline alert gives its callback: plain JSON (its dag_run is a dict, not Airflow's DagRun).
    page = TelnyxNotifier(
        **{**SMS, "text": "{{ dag_run.dag_id }} is late"},
        context=cast("Context", {"dag_run": {"dag_id": "orders"}, "deadline": deadline}),
    )
    page.clock = lambda: NOW
    page.__dict__["hook"] = api.hook(max_retries=0)

    async def awaited() -> None:
        await page

    asyncio.run(awaited())
    body = json.loads(api.requests[0].content)
    assert body["text"] == "orders is late"
    assert body["dynamic_variables"]["callback_kind"] == "deadline"
    assert body["scheduled_at_fixed_datetime"] == "2031-06-01T09:00:10Z"  # the deadline passed: now + 10 s


def test_airflow_discovers_the_notifier_from_the_provider_info() -> None:
    from airflow.providers_manager import ProvidersManager

    # Typed list[NotificationInfo], but Airflow fills it with the classes' import paths (_discover_notifications).
    notifications: list[object] = list(ProvidersManager().notification)
    assert "airflow_provider_telnyx.notifications.telnyx.TelnyxNotifier" in notifications
