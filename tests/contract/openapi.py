"""Validate the simulator's answers against Telnyx's official OpenAPI text (``openapi-core``).

``scheduled_events.openapi.yaml`` and ``conversations.openapi.yaml`` beside this file are verbatim copies of
``shared/telnyx-api/`` (from ``team-telnyx/openapi`` ``openapi/spec3.yml`` at 12de4dd);
``test_spec_copy_is_verbatim`` keeps them equal. The first covers the four scheduled-events operations, the second
the conversation, its messages and its insights. The specs document 200/201/422 (and the conversation's 404);
other statuses (400, 401, 404, 409, 429, 5xx) are Telnyx gateway errors, checked against the scheduled-events
spec's ``Error`` schema when their body is JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from airflow_provider_telnyx.testing.simulator import Exchange

SPEC_PATH = Path(__file__).with_name("scheduled_events.openapi.yaml")
CONVERSATIONS_SPEC_PATH = Path(__file__).with_name("conversations.openapi.yaml")
#: Every spec copy, by a path fragment that routes an answer to it.
SPECS = {"/scheduled_events": SPEC_PATH, "/ai/conversations/": CONVERSATIONS_SPEC_PATH}
DOCUMENTED = {200, 201, 422}


@cache
def openapi(path: Path = SPEC_PATH) -> OpenAPI:
    return OpenAPI.from_file_path(str(path))


def spec_for(path: str) -> Path | None:
    """The spec that documents a request path (``None`` for one outside both excerpts)."""
    return next((spec for fragment, spec in SPECS.items() if fragment in path), None)


@cache
def error_schema() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return {
        "type": "object",
        "required": ["errors"],
        "properties": {"errors": {"type": "array", "minItems": 1, "items": spec["components"]["schemas"]["Error"]}},
    }


@dataclass
class _Request:
    exchange: Exchange

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(self.exchange.query, keep_blank_values=True)),
            header=Headers(),
            cookie=ImmutableMultiDict(),
        )

    host_url = "https://api.telnyx.com"

    @property
    def path(self) -> str:
        return self.exchange.path

    @property
    def method(self) -> str:
        return self.exchange.method.lower()

    @property
    def content_type(self) -> str:
        return self.exchange.request_content_type or "application/json"

    @property
    def body(self) -> bytes | None:
        return self.exchange.request_body or None


@dataclass
class _Response:
    exchange: Exchange

    @property
    def status_code(self) -> int:
        return self.exchange.status

    @property
    def content_type(self) -> str:
        return self.exchange.response_headers.get("content-type", "application/json")

    @property
    def headers(self) -> Headers:
        return Headers(self.exchange.response_headers)

    @property
    def data(self) -> bytes:
        return self.exchange.response_body


def violations(exchanges: list[Exchange]) -> list[str]:
    """Every way these answers break the spec (empty when they all conform)."""
    found: list[str] = []
    for exchange in exchanges:
        where = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
        spec = spec_for(exchange.path)
        if exchange.status == 0 or spec is None:
            continue  # a dropped connection has no answer; /ai/assistants[/{id}] is outside the excerpts
        if exchange.status in DOCUMENTED:
            try:
                openapi(spec).validate_response(_Request(exchange), _Response(exchange))
            except Exception as error:
                found.append(f"{where}: {error!r} {getattr(error, '__cause__', '')!r}")
            continue
        if "json" in exchange.response_headers.get("content-type", ""):
            try:
                jsonschema.validate(json.loads(exchange.response_body), error_schema())
            except jsonschema.ValidationError as error:
                found.append(f"{where}: error body: {error.message}")
    return found
