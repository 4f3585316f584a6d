"""Time passes between tries: reattach first, then the late policy; errors no retry can fix fail at once.

Every test runs the real operator against the real simulator, with one manual clock shared by both, so "the
scheduled time has passed" is a fact of the test, not of the machine's speed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx._compat import AirflowFailException, AirflowSkipException
from airflow_provider_telnyx.exceptions import (
    ApiErrorItem,
    TelnyxApiError,
    TelnyxAuthError,
    TelnyxBatchError,
    TelnyxBatchRejectedError,
    TelnyxConnectionError,
    TelnyxInvalidInputError,
    TelnyxLateEventError,
    TelnyxServerError,
    TelnyxValidationError,
)
from airflow_provider_telnyx.operators._late import LATE_SEND_MARGIN, REATTACH_SLACK, LatePolicy, LateSendRule
from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator, summary_line
from airflow_provider_telnyx.operators.delete import TelnyxDeleteScheduledEventOperator
from airflow_provider_telnyx.operators.links import TelnyxScheduledEventLink
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.harness import DictStateStore, FakeTI, SimulatorConnection, context, needs_task_state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

ASSISTANT = "assistant-late"
START = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)
DUE = START + timedelta(seconds=30)


def single(clock: ManualClock, **overrides: Any) -> TelnyxCreateScheduledEventOperator:
    kwargs: dict[str, Any] = {
        "task_id": "schedule_call",
        "assistant_id": ASSISTANT,
        "end_user_target": "+13125550100",
        "agent_target": "+13125550199",
        "scheduled_at": DUE,
        **overrides,
    }
    op = TelnyxCreateScheduledEventOperator(**kwargs)
    op.clock = clock
    return op


def creates(simulator: Simulator) -> list[tuple[str, int]]:
    return [(e.route, e.status) for e in simulator.journal if e.route == "create"]


class TestSendTime:
    """The late rule on its own (pure function of two times)."""

    def test_on_time_is_unchanged(self) -> None:
        assert LateSendRule(LatePolicy.FAIL, None).send_time(DUE, START, subject="x") == DUE

    def test_due_too_soon_counts_as_late(self) -> None:
        now = DUE - timedelta(seconds=1)  # less than MIN_LEAD ahead: the request could arrive after it
        assert LateSendRule(LatePolicy.SEND_NOW, None).send_time(DUE, now, subject="x") == now + LATE_SEND_MARGIN

    @pytest.mark.parametrize(
        ("policy", "max_lateness", "late_by", "expected"),
        [
            (LatePolicy.SEND_NOW, timedelta(hours=1), timedelta(minutes=59), "retimed"),
            (LatePolicy.SEND_NOW, timedelta(hours=1), timedelta(minutes=61), TelnyxLateEventError),
            (LatePolicy.SEND_NOW, None, timedelta(days=3), "retimed"),
            (LatePolicy.SKIP, timedelta(hours=1), timedelta(seconds=5), None),
            (LatePolicy.FAIL, None, timedelta(seconds=5), TelnyxLateEventError),
        ],
    )
    def test_policies(
        self, policy: LatePolicy, max_lateness: timedelta | None, late_by: timedelta, expected: Any
    ) -> None:
        now = DUE + late_by
        if isinstance(expected, type):
            with pytest.raises(expected, match="events\\[3\\] was due at 2031-06-01T09:00:30"):
                LateSendRule(policy, max_lateness).send_time(DUE, now, subject="events[3]")
            assert issubclass(expected, AirflowFailException)
            return
        result = LateSendRule(policy, max_lateness).send_time(DUE, now, subject="events[3]")
        assert result == (now + LATE_SEND_MARGIN if expected == "retimed" else None)


class TestReattachWindow:
    """Where a retry looks for what earlier tries created (pure function of the times)."""

    def test_on_time_events_are_looked_for_around_their_time_and_the_first_try(self) -> None:
        start, end = LateSendRule(LatePolicy.SEND_NOW, None).reattach_window(
            [DUE, DUE + timedelta(minutes=5)], anchor=START, now=START + timedelta(minutes=1), retry_interval=None
        )
        assert (start, end) == (START - REATTACH_SLACK, DUE + timedelta(minutes=5) + LATE_SEND_MARGIN + REATTACH_SLACK)

    def test_a_late_send_is_bounded_by_max_lateness_or_by_now(self) -> None:
        now = DUE + timedelta(days=2)
        _, bounded = LateSendRule().reattach_window([DUE], anchor=START, now=now, retry_interval=None)
        assert bounded == DUE + timedelta(hours=1) + LATE_SEND_MARGIN + REATTACH_SLACK
        unlimited = LateSendRule(LatePolicy.SEND_NOW, None)
        _, unbounded = unlimited.reattach_window([DUE], anchor=START, now=now, retry_interval=None)
        assert unbounded == now + LATE_SEND_MARGIN + REATTACH_SLACK

    def test_the_apis_own_retries_move_the_end_to_now_plus_the_interval(self) -> None:
        now = DUE + timedelta(days=2)
        _, end = LateSendRule().reattach_window([DUE], anchor=START, now=now, retry_interval=timedelta(hours=3))
        assert end == now + timedelta(hours=3) + REATTACH_SLACK


class TestAfterARefusal:
    """The API's clock says the time has passed: the rule decides once more, once."""

    refusal = TelnyxValidationError(
        "422", http_status=422, errors=[ApiErrorItem("x", None, "in the past", field="scheduled_at_fixed_datetime")]
    )

    def test_a_refusal_of_the_intended_time_is_decided_as_if_now_were_that_time(self) -> None:
        now = DUE - timedelta(seconds=30)  # our clock says it is on time; the API's says it is not
        assert LateSendRule().after_refusal(self.refusal, DUE, DUE, now, subject="x") == DUE + LATE_SEND_MARGIN

    def test_any_other_refusal_or_a_second_one_is_the_callers(self) -> None:
        other = TelnyxValidationError("400", http_status=400, errors=[ApiErrorItem("x", None, "bad", field="text")])
        with pytest.raises(TelnyxValidationError, match="400"):
            LateSendRule().after_refusal(other, DUE, DUE, START, subject="x")
        with pytest.raises(TelnyxValidationError, match="422"):  # already re-timed once
            LateSendRule().after_refusal(self.refusal, DUE, DUE + LATE_SEND_MARGIN, START, subject="x")


class TestReattachBeforeTheClock:
    @needs_task_state_store
    @pytest.mark.parametrize("policy", ["send_now", "skip", "fail"])
    def test_retry_after_the_time_reattaches_through_the_state_store(
        self, telnyx_simulator: Simulator, clock: ManualClock, policy: str
    ) -> None:
        store = DictStateStore()
        first = single(clock, late_policy=policy).execute(context(FakeTI(try_number=1), store))
        clock.advance(3600)  # the event ran meanwhile
        second = single(clock, late_policy=policy).execute(context(FakeTI(try_number=2), store))
        assert second["scheduled_event_id"] == first["scheduled_event_id"]
        assert second["status"] == "completed"  # a final event is returned, never refused
        assert [e.route for e in telnyx_simulator.journal] == ["create", "get"]

    @pytest.mark.parametrize("policy", ["send_now", "fail"])
    def test_lost_answer_then_retry_after_the_time_finds_the_event_by_its_tags(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection, policy: str
    ) -> None:
        simulator_connection(max_retries=0)
        telnyx_simulator.set_faults(lose_next_creates=1)
        store = DictStateStore()
        with pytest.raises(TelnyxServerError) as caught:
            single(clock, late_policy=policy).execute(context(FakeTI(try_number=1), store))
        assert not isinstance(caught.value, AirflowFailException)  # Airflow retries it
        clock.advance(120)  # try 2 runs 90 s after the call's time
        ti = FakeTI(try_number=2)
        result = single(clock, late_policy=policy).execute(context(ti, store))
        assert telnyx_simulator.stats()["events_created"] == 1
        assert ti.xcoms["scheduled_event_id"] == result["scheduled_event_id"]
        assert [e.route for e in telnyx_simulator.journal] == ["create", "list"]

    @staticmethod
    def history(simulator: Simulator, count: int) -> None:
        """``count`` unrelated events of the assistant, a day apart in both directions from the call's time."""
        for i in range(count):
            at = DUE + timedelta(days=(i // 2 + 1) * (1 if i % 2 else -1), minutes=i % 7)
            simulator.seed_event(
                ASSISTANT,
                {
                    "telnyx_conversation_channel": "phone_call",
                    "telnyx_end_user_target": "+13125550100",
                    "telnyx_agent_target": "+13125550199",
                    "scheduled_at_fixed_datetime": at.isoformat(),
                },
            )

    def test_a_retry_among_5000_unrelated_events_reads_one_page(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        self.history(telnyx_simulator, 5_000)
        simulator_connection(max_retries=0)
        telnyx_simulator.set_faults(lose_next_creates=1)
        store = DictStateStore()
        with pytest.raises(TelnyxServerError):
            single(clock).execute(context(FakeTI(try_number=1), store))
        clock.advance(120)
        result = single(clock).execute(context(FakeTI(try_number=2), store))
        lists = [e for e in telnyx_simulator.journal if e.route == "list"]
        assert len(lists) == 1  # the listing covers the task's window, not the assistant's history
        assert telnyx_simulator.stats()["events_created"] == 5_001
        assert result["scheduled_event_id"] in {e["scheduled_event_id"] for e in telnyx_simulator.events()}

    # Scale: untraced by coverage (the paths: the tests above).
    @pytest.mark.no_cover
    def test_a_batch_retry_among_5000_unrelated_events_reads_a_few_pages(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        self.history(telnyx_simulator, 5_000)
        simulator_connection(max_retries=0)
        telnyx_simulator.set_faults(refuse_next_creates=10)
        store = DictStateStore()
        with pytest.raises(TelnyxBatchError):
            batch(clock, events=items(150)).execute(context(FakeTI(try_number=1), store))
        mark = len(telnyx_simulator.journal)
        summary = batch(clock, events=items(150)).execute(context(FakeTI(try_number=2), store))
        assert summary["counts"]["reused"] == 140
        assert [e.route for e in telnyx_simulator.journal[mark:]].count("list") == 2  # 140 own events: 2 pages

    def test_an_event_the_api_retried_later_is_still_found(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        # Busy on the first attempt: the API moves the event's time to the end of that attempt plus the interval,
        # past any window around the intended time alone.
        simulator_connection(max_retries=0)
        telnyx_simulator.set_faults(lose_next_creates=1)
        store = DictStateStore()
        retries = {"end_user_target": "+13125550101", "max_retries_client_errors": 2, "retry_interval_secs": 7200}
        with pytest.raises(TelnyxServerError):
            single(clock, **retries).execute(context(FakeTI(try_number=1), store))
        clock.advance(600)  # dispatched, busy, rescheduled two hours later
        [event] = telnyx_simulator.events()
        assert parse_iso_datetime(event["scheduled_at_fixed_datetime"]) > DUE + timedelta(hours=1)
        result = single(clock, **retries).execute(context(FakeTI(try_number=2), store))
        assert result["scheduled_event_id"] == event["scheduled_event_id"]
        assert telnyx_simulator.stats()["events_created"] == 1

    def test_idempotency_reuse_with_another_body_leads_to_the_tag_lookup(
        self, telnyx_simulator: Simulator, clock: ManualClock
    ) -> None:
        first = single(clock).execute(context(FakeTI()))
        # The same task instance sends again with the same key but a re-timed body (its record of the first try lost).
        again = single(clock, scheduled_at=DUE + timedelta(minutes=1)).execute(context(FakeTI()))
        assert again["scheduled_event_id"] == first["scheduled_event_id"]
        assert [(e.route, e.status) for e in telnyx_simulator.journal] == [
            ("create", 201),
            ("create", 422),
            ("list", 200),
        ]

    def test_idempotency_reuse_without_tags_fails_clearly(
        self, telnyx_simulator: Simulator, clock: ManualClock
    ) -> None:
        single(clock, tag_metadata=False).execute(context(FakeTI()))
        with pytest.raises(TelnyxValidationError, match="422") as caught:
            single(clock, tag_metadata=False, scheduled_at=DUE + timedelta(minutes=1)).execute(context(FakeTI()))
        assert caught.value.is_idempotency_reuse
        assert telnyx_simulator.stats()["events_created"] == 1


class TestLatePolicy:
    """A try that sends nothing (server down), and a retry that runs after the call's time."""

    def late_retry(
        self, simulator: Simulator, clock: ManualClock, connect: SimulatorConnection, late_by: float, **kw: Any
    ) -> tuple[TelnyxCreateScheduledEventOperator, Context, FakeTI]:
        connect(max_retries=0)
        simulator.set_faults(refuse_next_creates=1)
        store = DictStateStore()
        with pytest.raises(TelnyxServerError):
            single(clock, **kw).execute(context(FakeTI(try_number=1), store))
        clock.advance(30 + late_by)
        ti = FakeTI(try_number=2)
        return single(clock, **kw), context(ti, store), ti

    def test_send_now_creates_one_event_at_a_new_time_and_warns(
        self,
        telnyx_simulator: Simulator,
        clock: ManualClock,
        simulator_connection: SimulatorConnection,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        op, ctx, _ = self.late_retry(telnyx_simulator, clock, simulator_connection, late_by=600)
        capsys.readouterr()
        result = op.execute(ctx)
        assert telnyx_simulator.stats()["events_created"] == 1
        sent_for = parse_iso_datetime(result["scheduled_at_fixed_datetime"])
        assert sent_for == clock() + LATE_SEND_MARGIN
        warnings = [line for line in capsys.readouterr().out.splitlines() if "[warning" in line and "late" in line]
        assert len(warnings) == 1
        assert (
            f"Scheduled event is late: intended for {DUE.isoformat()}, sent for {sent_for.isoformat()} "
            "(late_policy=send_now)" in warnings[0]
        )

    def test_skip_skips_without_creating(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        op, ctx, _ = self.late_retry(telnyx_simulator, clock, simulator_connection, late_by=60, late_policy="skip")
        with pytest.raises(AirflowSkipException, match="late_policy='skip'"):
            op.execute(ctx)
        assert creates(telnyx_simulator) == [("create", 503)]

    def test_fail_fails_without_retrying(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        op, ctx, _ = self.late_retry(telnyx_simulator, clock, simulator_connection, late_by=60, late_policy="fail")
        with pytest.raises(TelnyxLateEventError, match="scheduled_at was due at 2031-06-01T09:00:30") as caught:
            op.execute(ctx)
        assert isinstance(caught.value, AirflowFailException)
        assert creates(telnyx_simulator) == [("create", 503)]

    @pytest.mark.parametrize(("late_by", "limit", "created"), [(7200, 3600, 0), (7200, None, 1), (1800, 3600, 1)])
    def test_max_lateness(
        self,
        telnyx_simulator: Simulator,
        clock: ManualClock,
        simulator_connection: SimulatorConnection,
        late_by: float,
        limit: float | None,
        created: int,
    ) -> None:
        op, ctx, _ = self.late_retry(telnyx_simulator, clock, simulator_connection, late_by=late_by, max_lateness=limit)
        if created:
            op.execute(ctx)
        else:
            with pytest.raises(TelnyxLateEventError, match=r"later than max_lateness \(60.0 min\)"):
                op.execute(ctx)
        assert telnyx_simulator.stats().get("events_created", 0) == created

    def test_the_apis_clock_ahead_of_ours_retimes_once(self, telnyx_simulator: Simulator) -> None:
        # Our clock: 3 s before the call (on time). The API's clock: 1 s after it (it answers 400).
        ours = ManualClock(DUE - timedelta(seconds=3))
        telnyx_simulator.clock = ManualClock(DUE + timedelta(seconds=1))
        result = single(ours).execute(context())
        assert creates(telnyx_simulator) == [("create", 400), ("create", 201)]
        assert parse_iso_datetime(result["scheduled_at_fixed_datetime"]) == DUE + LATE_SEND_MARGIN

    def test_bad_late_arguments_fail_at_parse_time(self) -> None:
        with pytest.raises(TelnyxInvalidInputError, match="late_policy"):
            TelnyxCreateScheduledEventOperator(
                task_id="t",
                assistant_id="a",
                end_user_target="+1",
                agent_target="+1",
                scheduled_at=DUE,
                late_policy="x",
            )
        for bad in (timedelta(0), -5, float("nan"), "soon"):
            with pytest.raises(TelnyxInvalidInputError, match="max_lateness"):
                TelnyxCreateScheduledEventsOperator(task_id="b", assistant_id="a", events=[], max_lateness=bad)


class TestErrorsNoRetryCanFix:
    @pytest.mark.parametrize(
        ("setup", "error", "fails_at_once"),
        [
            ("bad_key", TelnyxAuthError, True),
            ("no_telephony", TelnyxValidationError, True),
            ("refused_destination", TelnyxAuthError, True),
            ("server_down", TelnyxServerError, False),
        ],
    )
    def test_create(
        self,
        telnyx_simulator: Simulator,
        clock: ManualClock,
        simulator_connection: SimulatorConnection,
        setup: str,
        error: type[TelnyxApiError],
        fails_at_once: bool,
    ) -> None:
        overrides: dict[str, Any] = {}
        if setup == "no_telephony":
            overrides["assistant_id"] = "assistant-no-telephony"
        elif setup == "refused_destination":
            overrides["end_user_target"] = "+13125550105"
        elif setup == "server_down":
            telnyx_simulator.set_faults(refuse_next_creates=1)
        simulator_connection(password="KEYwrong" if setup == "bad_key" else None, max_retries=0)
        with pytest.raises(error) as caught:
            single(clock, **overrides).execute(context())
        assert isinstance(caught.value, AirflowFailException) is fails_at_once
        assert "[connection 'telnyx_default']" in str(caught.value)
        assert caught.value.code  # the API's own code, kept
        assert str(caught.value.http_status) in str(caught.value)

    def test_delete_with_a_bad_key_fails_at_once(self, simulator_connection: SimulatorConnection) -> None:
        simulator_connection(password="KEYwrong")
        op = TelnyxDeleteScheduledEventOperator(task_id="d", assistant_id=ASSISTANT, scheduled_event_id="evt-1")
        with pytest.raises(TelnyxAuthError, match="401") as caught:
            op.execute(context())
        assert isinstance(caught.value, AirflowFailException)


class TestMissingEventIds:
    @pytest.mark.parametrize("value", [None, "", "None", "  none ", "null"])
    def test_refused_with_zero_requests(self, telnyx_simulator: Simulator, value: Any) -> None:
        for task in (
            TelnyxDeleteScheduledEventOperator(task_id="d", assistant_id=ASSISTANT, scheduled_event_id=value),
            TelnyxScheduledEventSensor(task_id="s", assistant_id=ASSISTANT, scheduled_event_id=value, timeout=5),
        ):
            with pytest.raises(TelnyxInvalidInputError, match=r"scheduled_event_id: rendered to .*check the upstream"):
                task.execute(context())
        assert telnyx_simulator.journal == []

    def test_link_needs_no_xcom(self) -> None:
        op = TelnyxCreateScheduledEventOperator(
            task_id="t", assistant_id="assistant-9", end_user_target="+1", agent_target="+1", scheduled_at=DUE
        )
        link = TelnyxScheduledEventLink().get_link(op, ti_key=None)  # type: ignore[arg-type]  # no run: None
        assert link == "https://portal.telnyx.com/#/ai/assistants/edit/assistant-9"
        op.assistant_id = "{{ params.assistant }}"  # not rendered: no link rather than a wrong one
        assert TelnyxScheduledEventLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]  # no run: None


def items(n: int, first: int = 7000) -> list[dict[str, Any]]:
    return [{"end_user_target": f"+1312555{first + i:04d}"} for i in range(n)]


def batch(clock: ManualClock, **kwargs: Any) -> TelnyxCreateScheduledEventsOperator:
    kwargs.setdefault("events", items(20))
    kwargs.setdefault("scheduled_at", DUE)
    op = TelnyxCreateScheduledEventsOperator(
        task_id="batch", assistant_id=ASSISTANT, agent_target="+13125550199", **kwargs
    )
    op.clock = clock
    return op


class TestBatch:
    def test_results_are_keyed_to_the_input_rows(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        events = items(6)
        events[2]["end_user_target"] = "+13125550105"  # refused: 403 D13
        with pytest.raises(TelnyxBatchRejectedError) as caught:
            batch(clock, events=events).execute(context())
        assert isinstance(caught.value, AirflowFailException)
        summary = caught.value.summary
        assert summary["counts"] == {"created": 5, "reused": 0, "skipped": 0, "failed": 1, "invalid": 0, "not_sent": 0}
        assert [item["index"] for item in summary["items"]] == list(range(6))
        assert [item["outcome"] for item in summary["items"]] == ["created"] * 2 + ["failed"] + ["created"] * 3
        failed = summary["items"][2]
        assert (failed["error_class"], failed["retryable"]) == ("TelnyxForbiddenError", False)
        assert "D13" in failed["error"]
        assert "scheduled_event_id" not in failed
        assert summary["scheduled_event_ids"][2] is None
        assert all(summary["scheduled_event_ids"][i] for i in (0, 1, 3, 4, 5))
        json.dumps(summary)

    def test_late_items_follow_the_policy_each(self, telnyx_simulator: Simulator, clock: ManualClock) -> None:
        events = items(4)
        events[1]["scheduled_at"] = START - timedelta(minutes=5)  # late by 5 minutes
        events[3]["scheduled_at"] = START - timedelta(hours=2)  # later than max_lateness
        with pytest.raises(TelnyxBatchRejectedError) as caught:
            batch(clock, events=events).execute(context())
        outcomes = [item["outcome"] for item in caught.value.summary["items"]]
        assert outcomes == ["created", "created", "created", "failed"]
        retimed = caught.value.summary["items"][1]["scheduled_at"]
        assert parse_iso_datetime(retimed) == START + LATE_SEND_MARGIN
        assert caught.value.summary["items"][3]["error_class"] == "TelnyxLateEventError"

        telnyx_simulator.reset()
        telnyx_simulator.clock = clock
        summary = batch(clock, events=events, late_policy="skip").execute(context())
        assert [item["outcome"] for item in summary["items"]] == ["created", "skipped", "created", "skipped"]
        assert telnyx_simulator.stats()["events_created"] == 2

    def test_mixed_failures_retry_only_the_retryable_items(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        simulator_connection(max_retries=0)
        events = items(20)
        for i in (3, 7):
            events[i]["end_user_target"] = "+13125550105"  # refused for good
        telnyx_simulator.set_faults(refuse_next_creates=4)  # 4 creates answered 503, nothing created
        store = DictStateStore()
        with pytest.raises(TelnyxBatchError) as caught:
            batch(clock, events=events).execute(context(FakeTI(try_number=1), store))
        assert not isinstance(caught.value, AirflowFailException)  # Airflow retries: some failures may pass
        first = caught.value.summary
        transient = {i["index"] for i in first["items"] if i["outcome"] == "failed" and i["retryable"]}
        rejected = {i["index"] for i in first["items"] if i["outcome"] == "failed" and not i["retryable"]}
        assert len(transient) == 4
        assert rejected == {3, 7} - transient
        mark = len(telnyx_simulator.journal)
        with pytest.raises(TelnyxBatchRejectedError) as again:
            batch(clock, events=events).execute(context(FakeTI(try_number=2), store))
        retry_creates = [e for e in telnyx_simulator.journal[mark:] if e.route == "create"]
        assert len(retry_creates) == len(transient)  # neither the created items nor the refused ones again
        second = again.value.summary
        assert [second["items"][i]["outcome"] for i in (3, 7)] == ["failed", "failed"]
        assert all("refused on an earlier try" in second["items"][i]["error"] for i in rejected)
        resent = len(transient - {3, 7})
        assert second["counts"] == {
            "created": resent,
            "reused": 18 - resent,
            "skipped": 0,
            "failed": 2,
            "invalid": 0,
            "not_sent": 0,
        }

    def test_any_exception_is_one_items_failure(
        self, telnyx_simulator: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        op = batch(clock, events=items(10))
        original = op._create
        calls = {"n": 0}

        async def odd_answer(hook: Any, item: Any, at: datetime) -> Any:
            calls["n"] += 1
            if item.index == 4:
                raise ValueError("Invalid date value or format")
            return await original(hook, item, at)

        monkeypatch.setattr(op, "_create", odd_answer)
        ti = FakeTI()
        with pytest.raises(TelnyxBatchError) as caught:
            op.execute(context(ti))
        summary = ti.xcoms["batch_summary"]
        assert summary == caught.value.summary
        assert calls["n"] == 10
        assert summary["counts"] == {"created": 9, "reused": 0, "skipped": 0, "failed": 1, "invalid": 0, "not_sent": 0}
        assert (summary["items"][4]["error_class"], summary["items"][4]["retryable"]) == ("ValueError", True)

    def test_warns_up_front_when_the_batch_outlasts_its_lead_time(
        self, telnyx_simulator: Simulator, clock: ManualClock, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # 10 events at 4/s: the warning's estimate, and the send's own pace (about 2 s of real time).
        op = batch(clock, events=items(10), requests_per_second=4, scheduled_at=START + timedelta(seconds=1))
        op.execute(context())
        lines = [line for line in capsys.readouterr().out.splitlines() if "takes about" in line]
        assert len(lines) == 1
        assert (
            "Sending 10 events at about 4/s (requests_per_second) takes about 2 s, but the earliest is due in 1 s: "
            "items sent after their time follow late_policy=send_now" in lines[0]
        )

    def test_summary_line_is_one_bounded_line(self) -> None:
        many = [
            {"index": i, "outcome": "failed", "error_class": "TelnyxValidationError", "error": "x" * 300}
            for i in range(600)
        ]
        summary = {
            "total": 600,
            "counts": {"created": 0, "reused": 0, "skipped": 0, "failed": 600},
            "retryable_failures": 0,
            "items": many,
            "requests": 600,
            "rate_limited": 0,
            "seconds": 6.0,
            "requests_per_second": 100.0,
        }
        line = summary_line(summary)
        assert "\n" not in line
        assert len(line) < 600
        assert line.startswith("600 items: 0 created, 0 reused, 0 skipped, 600 failed (0 retryable)")

    def test_late_retry_after_lead_time_sends_only_the_missing_half(
        self, telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
    ) -> None:
        simulator_connection(max_retries=0)
        telnyx_simulator.set_faults(refuse_next_creates=10)
        store = DictStateStore()
        with pytest.raises(TelnyxBatchError):
            batch(clock, events=items(20)).execute(context(FakeTI(try_number=1), store))
        assert telnyx_simulator.stats()["events_created"] == 10
        clock.advance(600)  # the retry runs 10 minutes after the batch's time
        mark = len(telnyx_simulator.journal)
        summary = batch(clock, events=items(20)).execute(context(FakeTI(try_number=2), store))
        assert summary["counts"] == {
            "created": 10,
            "reused": 10,
            "skipped": 0,
            "failed": 0,
            "invalid": 0,
            "not_sent": 0,
        }
        assert len([e for e in telnyx_simulator.journal[mark:] if e.route == "create"]) == 10
        assert telnyx_simulator.stats()["events_created"] == 20
        retimed = {item["scheduled_at"] for item in summary["items"] if item["outcome"] == "created"}
        assert retimed == {(clock() + LATE_SEND_MARGIN).isoformat()}


def test_transport_errors_stay_retryable() -> None:
    error = TelnyxConnectionError("refused", conn_id="c")
    assert not isinstance(error, AirflowFailException)
    assert str(error) == "refused [connection 'c']"
