"""The ``telnyx`` connection's fields, validated: a key too short to mask, a port out of range, the insecure flag."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models import TelnyxClientConfig


def refused(**fields: Any) -> tuple[tuple[str, str], ...]:
    fields.setdefault("password", "KEYlong_enough")
    fields.setdefault("host", None)
    fields.setdefault("extra", {})
    with pytest.raises(TelnyxInvalidInputError) as caught:
        TelnyxClientConfig.from_connection_fields(**fields)
    assert caught.value.subject == "telnyx connection"
    assert fields["password"].strip() not in str(caught.value)  # the key is never quoted
    return caught.value.problems


@pytest.mark.parametrize(("key", "minimum"), [("KEY1", 5), ("  KEY1  ", 5), ("KEY12345", 9), ("K", 2)])
def test_a_key_shorter_than_the_masker_can_mask_is_refused(key: str, minimum: int) -> None:
    assert refused(password=key, min_secret_length=minimum) == (
        ("password", f"the API key is shorter than {minimum} characters, too short to be masked in logs"),
    )


@pytest.mark.parametrize(("key", "minimum"), [("KEY12", 5), ("KEY123456", 9)])
def test_a_key_as_long_as_the_masker_needs_is_accepted(key: str, minimum: int) -> None:
    config = TelnyxClientConfig.from_connection_fields(password=key, host=None, extra={}, min_secret_length=minimum)
    assert config.api_key == key


@pytest.mark.parametrize("port", [0, -1, 65536, 70_000, True])
def test_a_port_out_of_range_is_refused_once(port: int) -> None:
    bad = ("port", "must be a port number from 1 to 65535")
    assert refused(host="api.example.com", port=port) == (bad,)
    # The host's own port is not compared with a port already refused: one problem, not two.
    assert refused(host="https://api.example.com:8443/v2", port=port) == (bad,)


@pytest.mark.parametrize(
    ("port", "base_url"), [(1, "https://api.example.com:1/v2"), (65535, "https://api.example.com:65535/v2")]
)
def test_the_ports_at_the_range_ends_are_used(port: int, base_url: str) -> None:
    config = TelnyxClientConfig.from_connection_fields(
        password="KEYlong_enough", host="api.example.com", port=port, extra={}
    )
    assert config.base_url == base_url


@pytest.mark.parametrize("name", ["allow_insecure_http", "extra__telnyx__allow_insecure_http"])
def test_a_boolean_allow_insecure_http_lets_plain_http_to_another_host(name: str) -> None:
    config = TelnyxClientConfig.from_connection_fields(
        password="KEYlong_enough", host="http://gateway.internal/v2", extra={name: True}
    )
    assert config.allow_insecure_http is True
    assert config.insecure
    assert config.base_url == "http://gateway.internal/v2"


def test_a_boolean_false_allow_insecure_http_refuses_plain_http_to_another_host() -> None:
    problems = refused(host="http://gateway.internal/v2", extra={"allow_insecure_http": False})
    assert [field for field, _ in problems] == ["host"]
    assert "plain http:// to gateway.internal would send the API key in clear" in problems[0][1]
