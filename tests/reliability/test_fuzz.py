"""Hostile clients: a property-based API fuzzer against the simulator, and property tests for the models."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.result import Err

from airflow_provider_telnyx.models import (
    ScheduledEvent,
    ScheduledEventRequest,
    is_valid_target,
)
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.contract.openapi import SPEC_PATH, violations
from tests.reliability.conftest import Report

pytestmark = pytest.mark.long_running

EXAMPLES_PER_OPERATION_AND_MODE = 80
CHECK_NAMES = ("not_a_server_error", "response_schema_conformance", "content_type_conformance")


# Thousands of generated requests through paths tests/simulator walks once.
def test_schemathesis_finds_no_5xx_and_no_schema_violation(telnyx_simulator: Simulator, report: Report) -> None:
    """Simulator under a property-based API fuzzer (schemathesis)"""
    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    checks = [c for c in CHECKS.get_all() if c.__name__ in CHECK_NAMES]
    headers = {"Authorization": f"Bearer {telnyx_simulator.api_key}"}
    base_url = telnyx_simulator.base_url
    failures: list[str] = []
    per_operation: Counter[str] = Counter()

    # mode: a GenerationMode, a StrEnum (from Python 3.11), which mypy's Python 3.10 target types as str.
    def fuzzer(operation: Any, mode: str) -> Any:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            per_operation[operation.label] += 1
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except Exception as error:
                failures.append(f"{case.method} {case.formatted_path}: {error}"[:500])

        return fuzz

    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read: its own error, not an AttributeError
            raise result.err()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzzer(result.ok(), mode)()

    statuses = Counter(f"{e.status // 100}xx" for e in telnyx_simulator.journal)
    spec_problems = violations(telnyx_simulator.exchanges)
    report.record(
        generated_requests=sum(per_operation.values()),
        requests_by_operation=dict(per_operation),
        answers_by_class=dict(sorted(statuses.items())),
        server_errors=statuses.get("5xx", 0),
        schema_violations=len(spec_problems) + len(failures),
    )
    assert sum(per_operation.values()) >= 500
    assert failures == []
    assert statuses.get("5xx", 0) == 0


NOW = datetime(2031, 1, 1, tzinfo=timezone.utc)
e164 = st.from_regex(r"\A\+[1-9][0-9]{1,14}\Z")
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hostname = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda parts: ".".join(map(str, parts)))
ipv6 = st.ip_addresses(v=6).map(lambda address: f"[{address}]")
user = st.from_regex(r"[A-Za-z0-9_.!~*'()&=+$,-]{1,12}", fullmatch=True)
sip_uris = st.builds(
    lambda scheme, who, host, port, params, headers: f"{scheme}:{who}{host}{port}{params}{headers}",
    st.sampled_from(["sip", "sips", "SIP", "Sips"]),
    st.one_of(st.just(""), user.map(lambda name: f"{name}@"), st.tuples(user, user).map(lambda p: f"{p[0]}:{p[1]}@")),
    st.one_of(hostname, ipv4, ipv6),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}")),
    st.lists(st.sampled_from([";transport=tcp", ";lr", ";maddr=239.255.255.1", ";user=phone"]), max_size=2).map(
        "".join
    ),
    st.one_of(st.just(""), st.just("?X-Foo=bar"), st.just("?subject=project%20x&priority=urgent")),
)
e164_numbers = st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True)
target = st.one_of(e164, sip_uris)
future = st.datetimes(min_value=datetime(2031, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))
flat = st.dictionaries(st.text(min_size=1, max_size=10), st.one_of(st.text(max_size=10), st.integers(), st.booleans()))
variables = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20))


@st.composite
def valid_requests(draw: Any) -> dict[str, Any]:
    sms = draw(st.booleans())
    body: dict[str, Any] = {
        "telnyx_conversation_channel": "sms_chat" if sms else "phone_call",
        "telnyx_end_user_target": draw(target),
        "telnyx_agent_target": draw(target),
        "scheduled_at_fixed_datetime": draw(future).isoformat(),
        "conversation_metadata": draw(flat),
        "dynamic_variables": draw(variables),
    }
    if sms:
        body["text"] = draw(st.text(min_size=1, max_size=50).filter(str.strip))
    else:
        retries = draw(st.integers(0, 10))
        body["max_retries_client_errors"] = retries
        if retries:  # the guide: an interval with retries, and only then
            body["retry_interval_secs"] = draw(st.integers(60, 86_400))
        body["call_settings"] = {
            "sip_region": draw(st.sampled_from(["US", "Europe", "Canada", "Australia", "Middle East"]))
        }
    return body


@settings(max_examples=300, deadline=None, derandomize=True)
@given(valid_requests())
def test_every_request_the_spec_and_guide_accept_is_accepted(body: dict[str, Any]) -> None:
    request = ScheduledEventRequest.model_validate(body, context={"now": NOW})
    assert ScheduledEventRequest.model_validate(request.to_api(), context={"now": NOW}) == request


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(-5, 20), st.integers(0, 100_000))
def test_retry_ranges_are_exactly_the_specs(retries: int, interval: int) -> None:
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": "2031-02-01T00:00:00Z",
        "max_retries_client_errors": retries,
        "retry_interval_secs": interval,
    }
    accepted = 0 < retries <= 10 and 60 <= interval <= 86_400  # the guide: an interval only with retries
    try:
        ScheduledEventRequest.model_validate(body, context={"now": NOW})
    except ValidationError:
        assert not accepted
    else:
        assert accepted


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(sip_uris, e164_numbers))
def test_every_e164_number_and_rfc3261_sip_uri_is_accepted(target: str) -> None:
    assert is_valid_target(target), target


def _break(target: str, how: int, where: int) -> str:
    position = where % (len(target) + 1)
    return [
        target[:position] + " " + target[position:],  # whitespace anywhere
        target[:position] + "\n" + target[position:],
        "",
        target.split(":", 1)[-1] if target.lower().startswith("sip") else target.lstrip("+"),  # no scheme / no +
        "tel:" + target,
        (target.split("@", maxsplit=1)[0] + "@") if "@" in target else target + "@",  # no host after the user part
    ][how]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(sip_uris, e164_numbers), st.integers(0, 5), st.integers(0, 200))
def test_broken_targets_are_refused(target: str, how: int, where: int) -> None:
    broken = _break(target, how, where)
    if how == 3 and broken.startswith("+"):  # a SIP URI's remainder that happens to be a number is fine
        return
    assert not is_valid_target(broken), (target, how, broken)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "assistant_id": st.text(min_size=1, max_size=20),
            "scheduled_event_id": st.uuids().map(str),
            "telnyx_conversation_channel": st.just("phone_call"),
            "telnyx_end_user_target": e164,
            "telnyx_agent_target": e164,
            "scheduled_at_fixed_datetime": future.map(lambda d: d.isoformat()),
            "status": st.sampled_from(["pending", "in_progress", "completed", "failed"]),
            "retry_count": st.integers(0, 10),
            "errors": st.lists(st.text(max_size=20), max_size=3),
            "call_attempts": st.lists(
                st.fixed_dictionaries(
                    {
                        "attempt_number": st.integers(1, 11),
                        "attempted_at": future.map(lambda d: d.isoformat()),
                        "call_status": st.sampled_from(["busy", "no-answer", "completed"]),
                    }
                ),
                max_size=3,
            ),
        },
        optional={"future_field": st.text(max_size=5), "call_duration": st.integers(0, 10_000)},
    )
)
def test_response_round_trip_is_lossless(raw: dict[str, Any]) -> None:
    parsed = ScheduledEvent.parse(raw)
    again = ScheduledEvent.parse(parsed.to_json_dict())
    assert again == parsed
    assert set(again.to_json_dict()) == set(raw)
