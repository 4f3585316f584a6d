from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from airflow.sdk import DAG

from airflow_provider_telnyx._compat import AirflowFailException, TaskDeferred
from airflow_provider_telnyx.exceptions import (
    TelnyxConnectionError,
    TelnyxInvalidInputError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
    TelnyxServerError,
)
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.operators._arguments import default_idempotency_key
from airflow_provider_telnyx.operators.delete import TelnyxDeleteScheduledEventOperator
from airflow_provider_telnyx.operators.links import TelnyxScheduledEventLink
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from tests.harness import DictStateStore, FakeTI, context, needs_task_state_store, run_deferred

if TYPE_CHECKING:
    from airflow.sdk import Context

ASSISTANT = "assistant-ops"
START = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)


def operator(**overrides: Any) -> TelnyxCreateScheduledEventOperator:
    kwargs: dict[str, Any] = {
        "task_id": "schedule_call",
        "assistant_id": ASSISTANT,
        "end_user_target": "+13125550100",
        "agent_target": "+13125550199",
        "scheduled_at": START + timedelta(minutes=5),
        **overrides,
    }
    return TelnyxCreateScheduledEventOperator(**kwargs)


class TestConstruction:
    def test_no_io_and_defaults(self) -> None:
        op = operator(telnyx_conn_id="does_not_exist")
        assert "hook" not in op.__dict__  # the cached hook is only built on first use
        assert (op.conversation_channel, op.wait_for_completion, op.poll_interval) == ("phone_call", False, 60)
        assert op.deferrable is False
        assert op.cancel_on_kill
        assert op.tag_metadata

    @pytest.mark.parametrize(("name", "value"), [("poll_interval", -1), ("poll_interval", 0), ("wait_timeout", -5)])
    def test_bad_timing_arguments_fail_at_parse_time(self, name: str, value: float) -> None:
        with pytest.raises(TelnyxInvalidInputError, match=name):
            operator(**{name: value})

    def test_every_user_facing_value_is_templated(self) -> None:
        op = operator()
        assert set(op.template_fields) == {
            "assistant_id",
            "end_user_target",
            "agent_target",
            "scheduled_at",
            "conversation_channel",
            "text",
            "conversation_metadata",
            "dynamic_variables",
            "max_retries_client_errors",
            "retry_interval_secs",
            "call_settings",
            "idempotency_key",
            "late_policy",
            "max_lateness",
            "telnyx_conn_id",
        }
        assert op.template_fields_renderers["dynamic_variables"] == "json"
        assert op.ui_color == "#00E3AA"
        assert [type(link) for link in op.operator_extra_links] == [TelnyxScheduledEventLink]

    def test_template_rendering(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_X", os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"])
        with DAG("render_dag", schedule=None, start_date=START, params={"who": "Ada", "conn": "telnyx_x"}):
            op = operator(
                assistant_id="assistant-{{ params.who | lower }}",
                scheduled_at="{{ (ts_dt + macros.timedelta(hours=1)).isoformat() }}",
                dynamic_variables={"name": "{{ params.who }}"},
                max_retries_client_errors="{{ 1 + 1 }}",
                retry_interval_secs=60,
                telnyx_conn_id="{{ params.conn }}",
            )
        # The variables the templates use (``ts_dt`` is the test's own: Airflow's Context type does not declare it).
        ctx = cast(
            "Context",
            {
                "params": {"who": "Ada", "conn": "telnyx_x"},
                "ts_dt": START,
                "macros": SimpleNamespace(timedelta=timedelta),
            },
        )
        op.render_template_fields(ctx)
        assert op.assistant_id == "assistant-ada"
        assert op.scheduled_at == (START + timedelta(hours=1)).isoformat()
        assert op.dynamic_variables == {"name": "Ada"}
        assert op.telnyx_conn_id == "telnyx_x"
        request = op.build_request(context())
        assert request.max_retries_client_errors == 2
        assert request.scheduled_at_fixed_datetime == START + timedelta(hours=1)


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"end_user_target": "555-0100"}, "end_user_target"),
            ({"agent_target": "sip:nobody@"}, "agent_target"),
            ({"scheduled_at": "2031-06-01T10:00:00"}, "scheduled_at"),
            ({"scheduled_at": datetime(2031, 6, 1, 10)}, "scheduled_at"),
            ({"scheduled_at": "next tuesday"}, "scheduled_at"),
            ({"scheduled_at": 12}, "scheduled_at"),
            ({"conversation_channel": "fax"}, "conversation_channel"),
            ({"conversation_channel": "sms_chat"}, "text"),
            ({"max_retries_client_errors": 3}, "retry_interval_secs"),
            ({"dynamic_variables": {"n": 5}}, "dynamic_variables.n"),
            ({"conversation_metadata": {"n": [1]}}, "conversation_metadata.n"),
            ({"call_settings": {"sip_region": "Mars"}}, "call_settings.sip_region"),
            ({"idempotency_key": "has spaces"}, "idempotency_key"),
            ({"late_policy": "{{ 'later' }}"}, "late_policy"),
            ({"max_lateness": "{{ 'soon' }}"}, "max_lateness"),
        ],
    )
    def test_bad_values_fail_before_any_request_without_retrying(
        self, telnyx_simulator: Simulator, overrides: dict[str, Any], field: str
    ) -> None:
        op = operator(retries=3, **overrides)
        with pytest.raises(TelnyxInvalidInputError) as caught:
            op.execute(context())
        assert caught.value.fields[0] == field
        assert isinstance(caught.value, AirflowFailException)  # fails the task without using its retries
        assert telnyx_simulator.journal == []


class TestExactlyOnce:
    def test_default_key_is_stable_across_tries_and_distinct_per_instance(self) -> None:
        first = default_idempotency_key(context(FakeTI(try_number=1)))
        assert first == default_idempotency_key(context(FakeTI(try_number=4)))
        assert first != default_idempotency_key(context(FakeTI(map_index=3)))
        assert first != default_idempotency_key(context(FakeTI(run_id="other")))
        assert first != default_idempotency_key(context(FakeTI(task_id="other")))
        assert first.startswith("airflow-")
        assert len(first) == 64
        assert first.replace("-", "").isalnum()

    def test_creates_with_key_tags_and_pushes_ids(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        ti = FakeTI()
        result = operator(conversation_metadata={"airflow_task_id": "mine", "order": 7}).execute(context(ti))
        (create,) = telnyx_simulator.journal
        assert create.idempotency_key == default_idempotency_key(context(ti))
        assert ti.xcoms["scheduled_event_id"] == result["scheduled_event_id"]
        assert result["conversation_metadata"] == {
            "airflow_dag_id": "dag_a",
            "airflow_run_id": ti.run_id,
            "airflow_task_id": "mine",
            "airflow_map_index": -1,
            "order": 7,
        }
        json.dumps(result)

    @needs_task_state_store
    def test_retry_reattaches_through_the_task_state_store(
        self, telnyx_simulator: Simulator, clock: ManualClock
    ) -> None:
        store = DictStateStore()
        first = operator().execute(context(FakeTI(try_number=1), store))
        assert store.data["telnyx_scheduled_event_id"] == first["scheduled_event_id"]
        second = operator().execute(context(FakeTI(try_number=2), store))
        assert second["scheduled_event_id"] == first["scheduled_event_id"]
        assert [e.route for e in telnyx_simulator.journal] == ["create", "get"]
        assert telnyx_simulator.stats()["events_created"] == 1

    def test_retry_after_a_crash_finds_the_event_by_metadata(
        self, telnyx_simulator: Simulator, clock: ManualClock
    ) -> None:
        first = operator().execute(context(FakeTI(try_number=1)))  # no state store: as if it was lost
        second = operator().execute(context(FakeTI(try_number=2)))
        assert second["scheduled_event_id"] == first["scheduled_event_id"]
        assert [e.route for e in telnyx_simulator.journal] == ["create", "list"]

    def test_lost_response_then_retry_creates_one_event(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        telnyx_simulator.set_faults(lose_create_rate=1.0)
        op = operator()
        op.hook._max_retries = 0
        with pytest.raises((TelnyxServerError, TelnyxConnectionError)):
            op.execute(context(FakeTI(try_number=1)))
        telnyx_simulator.set_faults(lose_create_rate=0.0)
        result = operator().execute(context(FakeTI(try_number=2)))
        assert telnyx_simulator.stats()["events_created"] == 1
        assert result["scheduled_event_id"] == telnyx_simulator.events()[0]["scheduled_event_id"]

    def test_timedelta_schedule_is_kept_across_tries(self, telnyx_simulator: Simulator) -> None:
        store = DictStateStore()
        op = operator(scheduled_at=timedelta(minutes=10), tag_metadata=False)
        first = op.build_request(context(store=store)).scheduled_at_fixed_datetime
        again = operator(scheduled_at=timedelta(minutes=10)).build_request(context(store=store))
        assert again.scheduled_at_fixed_datetime == first
        assert timedelta(minutes=9) < first - datetime.now(timezone.utc) <= timedelta(minutes=10)

    @needs_task_state_store
    def test_deleted_event_is_not_recreated(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        store = DictStateStore()
        first = operator().execute(context(FakeTI(), store))
        TelnyxHook().delete_scheduled_event(ASSISTANT, first["scheduled_event_id"])
        with pytest.raises(TelnyxScheduledEventWaitError, match="was deleted; not creating it again"):
            operator().execute(context(FakeTI(try_number=2), store))
        assert telnyx_simulator.stats()["events_created"] == 1


class TestWaiting:
    def test_blocking_wait_returns_the_final_event(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator(wait_for_completion=True, poll_interval=0.01)
        result = _with_time_moving(op, clock)
        assert result["status"] == "completed"
        assert [e.route for e in telnyx_simulator.journal] == ["create", "get", "get"]

    def test_blocking_wait_fails_with_attempts_summary(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator(end_user_target="+13125550102", wait_for_completion=True, poll_interval=0.01)
        with pytest.raises(TelnyxScheduledEventFailedError) as caught:
            _with_time_moving(op, clock)
        assert "no-answer" in str(caught.value)
        assert caught.value.event["status"] == "failed"

    def test_deferrable_wait_and_resume(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator(wait_for_completion=True, deferrable=True, poll_interval=5, wait_timeout=600)
        ti = FakeTI()
        ctx = context(ti)
        with pytest.raises(TaskDeferred) as caught:
            op.execute(ctx)
        trigger = caught.value.trigger
        assert isinstance(trigger, TelnyxScheduledEventTrigger)
        assert caught.value.timeout == timedelta(seconds=600)
        assert ti.xcoms["scheduled_event_id"] == trigger.scheduled_event_id  # pushed before waiting
        result = run_deferred(op, caught.value, ctx, lambda: clock.advance(3600))
        assert result["status"] == "completed"

    @pytest.mark.parametrize(
        "payload",
        [
            None,
            {},
            {"status": "weird"},
            {"status": "final", "event": {"nope": 1}},
            "text",
            {"status": "final", "event": {"status": "pending"}},
        ],
    )
    def test_execute_complete_refuses_unreadable_payloads(self, payload: Any) -> None:
        with pytest.raises(TelnyxScheduledEventWaitError):
            operator().execute_complete(context(), payload)


def _with_time_moving(op: TelnyxCreateScheduledEventOperator, clock: ManualClock) -> Any:
    """Run execute while each status check moves the simulator clock an hour (the call finishes meanwhile)."""
    hook = op.hook
    original = hook.call

    def call_and_move(request: Any) -> Any:
        answer = original(request)
        if request.method == "GET":
            clock.advance(3600)
        return answer

    hook.call = call_and_move  # type: ignore[method-assign]  # the real call, then time moves
    return op.execute(context())


class TestOnKill:
    def test_cancels_a_pending_event(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator()
        op.execute(context())
        op.on_kill()
        assert telnyx_simulator.stats()["events_cancelled"] == 1

    def test_leaves_a_dispatched_event_alone(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator()
        op.execute(context())
        clock.advance(5 * 60 + 1)  # dispatched: ringing
        op.on_kill()
        assert telnyx_simulator.stats().get("events_cancelled", 0) == 0
        assert telnyx_simulator.stats()["events_stored"] == 1

    def test_respects_cancel_on_kill_false(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        op = operator(cancel_on_kill=False)
        op.execute(context())
        op.on_kill()
        assert [e.route for e in telnyx_simulator.journal] == ["create"]

    def test_trigger_on_kill_cancels_only_pending(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        ids = [
            operator(task_id=f"t{i}").execute(context(FakeTI(task_id=f"t{i}")))["scheduled_event_id"] for i in range(2)
        ]
        clock.advance(5 * 60 + 1)
        late = operator(task_id="late", scheduled_at=START + timedelta(hours=1)).execute(
            context(FakeTI(task_id="late"))
        )["scheduled_event_id"]
        for event_id in [*ids, late]:
            trigger = TelnyxScheduledEventTrigger(assistant_id=ASSISTANT, scheduled_event_id=event_id)
            asyncio.run(trigger.on_kill())
        assert telnyx_simulator.stats()["events_cancelled"] == 1
        assert {e["scheduled_event_id"] for e in telnyx_simulator.events()} == set(ids)


class TestDeleteOperator:
    def test_delete_and_missing(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        event_id = operator().execute(context())["scheduled_event_id"]
        delete = TelnyxDeleteScheduledEventOperator(task_id="d", assistant_id=ASSISTANT, scheduled_event_id=event_id)
        assert delete.execute(context()) is True
        assert delete.execute(context()) is False
        strict = TelnyxDeleteScheduledEventOperator(
            task_id="s", assistant_id=ASSISTANT, scheduled_event_id=event_id, missing_ok=False
        )
        with pytest.raises(Exception, match="404"):
            strict.execute(context())

    def test_only_if_pending_cancels_a_pending_event_and_keeps_a_dispatched_one(
        self, telnyx_simulator: Simulator, clock: ManualClock
    ) -> None:
        """The teardown that stands in for a trigger's on_kill before Airflow 3.3."""
        pending = operator(task_id="p").execute(context(FakeTI(task_id="p")))["scheduled_event_id"]
        soon = operator(task_id="s", scheduled_at=START + timedelta(minutes=1)).execute(context(FakeTI(task_id="s")))
        clock.advance(2 * 60)  # the second one dispatched: ringing
        results = [
            TelnyxDeleteScheduledEventOperator(
                task_id=f"d{i}", assistant_id=ASSISTANT, scheduled_event_id=event_id, only_if_pending=True
            ).execute(context())
            for i, event_id in enumerate([pending, soon["scheduled_event_id"]])
        ]
        assert results == [True, False]
        assert telnyx_simulator.stats()["events_cancelled"] == 1
        assert {e["scheduled_event_id"] for e in telnyx_simulator.events()} == {soon["scheduled_event_id"]}


class TestPreflight:
    @pytest.mark.parametrize(
        ("assistant_id", "channel", "error", "creates"),
        [
            ("assistant-ops", "phone_call", None, 1),
            ("assistant-typo", "phone_call", "404", 0),
            ("assistant-no-telephony", "phone_call", "has no telephony settings", 0),
            ("assistant-no-telephony", "sms_chat", None, 1),
        ],
    )
    def test_check_assistant(
        self,
        telnyx_simulator: Simulator,
        clock: ManualClock,
        assistant_id: str,
        channel: str,
        error: str | None,
        creates: int,
    ) -> None:
        extra = {"text": "Hi"} if channel == "sms_chat" else {}
        op = operator(assistant_id=assistant_id, conversation_channel=channel, check_assistant=True, **extra)
        if error is None:
            op.execute(context())
        else:
            with pytest.raises(AirflowFailException, match=error):
                op.execute(context())
        routes = [(e.route, e.status) for e in telnyx_simulator.journal]
        assert routes[0][0] == "assistant"  # one GET /ai/assistants/{id}, before anything else
        assert len([r for r in routes if r[0] == "assistant"]) == 1
        assert len([r for r in routes if r == ("create", 201)]) == creates

    def test_batch_checks_once(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator

        batch = TelnyxCreateScheduledEventsOperator(
            task_id="b",
            assistant_id="assistant-no-telephony",
            events=[{"end_user_target": f"+1312555{7100 + i}"} for i in range(5)],
            agent_target="+13125550199",
            scheduled_at=START + timedelta(minutes=5),
            check_assistant=True,
        )
        with pytest.raises(AirflowFailException, match="cannot place phone calls"):
            batch.execute(context())
        assert [e.route for e in telnyx_simulator.journal] == ["assistant"]
