"""Reading a callback's context: task, DAG and deadline callbacks, the masked one-line reason, the idempotency key."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_telnyx._checks import IDEMPOTENCY_KEY_PATTERN
from airflow_provider_telnyx._compat import mask_secret
from airflow_provider_telnyx.notifications._context import MAX_REASON, CallbackFacts, CallbackKind, one_line_reason

NOW = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)
ENDED = NOW - timedelta(seconds=3)


def ti(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "dag_id": "orders",
        "run_id": "scheduled__2031-06-01T00:00:00+00:00",
        "task_id": "load",
        "map_index": -1,
        "try_number": 2,
        "state": "failed",
        "end_date": ENDED,
        **overrides,
    }
    return SimpleNamespace(**fields)


def task_context(**ti_overrides: Any) -> dict[str, Any]:
    return {"ti": ti(**ti_overrides), "dag": SimpleNamespace(dag_id="orders"), "exception": ValueError("bad row 7")}


class TestTaskCallbacks:
    @pytest.mark.parametrize(
        ("state", "kind", "reason"),
        [
            ("failed", "failure", "ValueError: bad row 7"),
            ("up_for_retry", "retry", "ValueError: bad row 7"),
            ("success", "success", ""),
            ("skipped", "skipped", ""),
            ("running", "execute", ""),
        ],
    )
    def test_the_state_the_task_runner_set_names_the_callback(self, state: str, kind: str, reason: str) -> None:
        facts = CallbackFacts.of(task_context(state=state), now=NOW)
        assert (facts.kind.value, facts.reason) == (kind, reason)
        assert facts.anchor == ENDED  # the try's end: a second run of the callback computes the same time

    def test_variables_read_out_by_the_assistant(self) -> None:
        facts = CallbackFacts.of(task_context(map_index=3), now=NOW)
        assert facts.dynamic_variables() == {
            "dag_id": "orders",
            "run_id": "scheduled__2031-06-01T00:00:00+00:00",
            "task_id": "load",
            "map_index": "3",
            "try_number": "2",
            "callback_kind": "failure",
            "reason": "ValueError: bad row 7",
        }
        assert facts.summary() == (
            "Airflow failure: DAG orders, run scheduled__2031-06-01T00:00:00+00:00, task load[3], try 2. "
            "ValueError: bad row 7"
        )

    def test_an_enum_state_and_no_end_date(self) -> None:
        state = SimpleNamespace(value="up_for_retry")
        facts = CallbackFacts.of(task_context(state=state, end_date=None), now=NOW)
        assert (facts.kind, facts.anchor) == (CallbackKind.RETRY, NOW)

    def test_an_unknown_state_with_an_exception_is_a_failure(self) -> None:
        assert CallbackFacts.of(task_context(state=None), now=NOW).kind is CallbackKind.FAILURE

    def test_an_exception_without_a_message_and_a_string_error(self) -> None:
        context = {**task_context(), "exception": KeyError()}
        assert CallbackFacts.of(context, now=NOW).reason == "KeyError"
        context = {**task_context(), "exception": "Task received SIGTERM\nmore"}
        assert CallbackFacts.of(context, now=NOW).reason == "Task received SIGTERM"


class TestDagAndDeadlineCallbacks:
    def test_dag_failure_names_the_task_that_decided_the_run(self) -> None:
        context = {"dag": SimpleNamespace(dag_id="orders"), "run_id": "r1", "reason": "task_failure", "ti": ti()}
        facts = CallbackFacts.of(context, now=NOW)
        assert (facts.kind, facts.task_id, facts.try_number, facts.reason) == (
            CallbackKind.DAG_FAILURE,
            "load",
            2,
            "task_failure",
        )

    def test_dag_callback_without_a_task_instance(self) -> None:
        context = {"dag": SimpleNamespace(dag_id="orders"), "run_id": "r1", "reason": "success"}
        facts = CallbackFacts.of(context, now=NOW)
        assert (facts.kind, facts.dag_id, facts.run_id, facts.task_id, facts.try_number) == (
            CallbackKind.DAG_SUCCESS,
            "orders",
            "r1",
            None,
            None,
        )
        assert facts.dynamic_variables()["task_id"] == facts.dynamic_variables()["try_number"] == ""
        assert facts.summary() == "Airflow dag success: DAG orders, run r1. success"
        assert "airflow_callback_task_id" not in facts.tags()

    def test_deadline_reads_the_dag_run_record(self) -> None:
        due = "2031-06-01T02:00:00+00:00"
        context = {"dag_run": {"dag_id": "orders", "dag_run_id": "r1"}, "deadline": {"id": "d-1", "deadline_time": due}}
        facts = CallbackFacts.of(context, now=NOW)
        ids = (facts.kind, facts.dag_id, facts.run_id, facts.deadline_id)
        assert ids == (CallbackKind.DEADLINE, "orders", "r1", "d-1")
        assert facts.reason == f"deadline missed (due {due})"
        assert facts.anchor == datetime(2031, 6, 1, 2, 0, tzinfo=timezone.utc)


class TestReason:
    def test_first_line_only_and_bounded(self) -> None:
        assert one_line_reason("  first\nsecond") == "first"
        assert one_line_reason("") == one_line_reason(" \n ") == ""
        long = one_line_reason("x" * 5000)
        assert len(long) == MAX_REASON
        assert long.endswith("…")

    def test_a_known_secret_is_masked_before_the_line_is_cut(self) -> None:
        secret = "s3cr3t-" + "q" * 40
        mask_secret(secret)
        assert one_line_reason(f"login failed with {secret}") == "login failed with ***"
        # The secret straddles the cut: masked first, so not even its beginning survives.
        straddling = one_line_reason("y" * (MAX_REASON - 10) + secret)
        assert "s3cr3t" not in straddling
        assert straddling.startswith("y" * (MAX_REASON - 10))


class TestIdempotencyKey:
    def test_stable_within_the_endpoint_pattern(self) -> None:
        facts = CallbackFacts.of(task_context(), now=NOW)
        again = CallbackFacts.of(task_context(), now=NOW + timedelta(minutes=5))
        key = facts.idempotency_key(None)
        assert IDEMPOTENCY_KEY_PATTERN.fullmatch(key)
        assert key.startswith("airflow-")
        assert again.idempotency_key(None) == key

    @pytest.mark.parametrize(
        "change",
        [
            {"kind": CallbackKind.RETRY},
            {"try_number": 3},
            {"map_index": 0},
            {"task_id": "other"},
            {"run_id": "other"},
            {"dag_id": "other"},
            {"deadline_id": "d-2"},
        ],
    )
    def test_each_callback_try_and_task_instance_has_its_own(self, change: dict[str, Any]) -> None:
        facts = CallbackFacts.of(task_context(), now=NOW)
        assert replace(facts, **change).idempotency_key(None) != facts.idempotency_key(None)

    def test_the_namespace_separates_deployments(self) -> None:
        facts = CallbackFacts.of(task_context(), now=NOW)
        assert facts.idempotency_key("prod-eu") != facts.idempotency_key(None) != facts.idempotency_key("prod-us")

    def test_a_task_instance_and_its_operators_event_never_share_a_key(self) -> None:
        from airflow_provider_telnyx.operators._arguments import default_idempotency_key

        context = task_context()
        facts = CallbackFacts.of(context, now=NOW)
        assert facts.idempotency_key(None) != default_idempotency_key(context)  # type: ignore[arg-type]  # a stand-in
