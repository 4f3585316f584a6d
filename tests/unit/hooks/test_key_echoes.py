"""The key, echoed back by a server in a less common form, reaches no return value, exception or log line (issue
21, item 6)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from airflow_provider_telnyx.hooks._redact import Redactor
from tests.environment import API_KEY
from tests.unit.mock_api import MockApi, event_json, run

#: A key as long as a real one (KEY + 32 hex + _ + 22 characters).
LONG_KEY = "KEY0188E5B1B3A2C4D6E8F0A1B2C3D4E5F6_Zq3Xy7Wv9Ut5Rs1Po2Nm4L"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32"])
def test_key_in_a_utf16_json_success_body_does_not_reach_the_returned_event(mode: str, encoding: str) -> None:
    """JSON may be sent in UTF-16/32 (``json.loads(bytes)`` detects it), where the byte-level scrub sees no key:
    every decoded string passes the redactor, so the event (and the XCom built from it) never holds the key."""
    body = json.dumps(event_json(conversation_metadata={"note": f"echo Bearer {API_KEY}"})).encode(encoding)
    api = MockApi().script(
        httpx.Response(200, content=body, headers={"content-type": f"application/json; charset={encoding}"})
    )
    event = run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
    shown = json.dumps(event.model_dump(mode="json")) + repr(event)
    assert API_KEY not in shown


@pytest.mark.parametrize(
    "name",
    ["mime-wrapped (base64.encodebytes)", "truncated", "\\u-escaped", "url-encoded"],
)
def test_base64_of_the_key_in_common_variants_is_masked(name: str) -> None:
    """The key's base64 is found wrapped at 76 columns (MIME, PEM, ``base64.encodebytes``), cut short, or escaped."""
    redactor = Redactor([LONG_KEY])
    b64 = base64.b64encode(LONG_KEY.encode()).decode()
    text = {
        "mime-wrapped (base64.encodebytes)": base64.encodebytes(LONG_KEY.encode()).decode(),
        "truncated": b64[:64],  # 48 of the key's 58 characters
        "\\u-escaped": "".join(f"\\u{ord(c):04x}" for c in b64),
        "url-encoded": "".join(f"%{ord(c):02X}" for c in b64),
    }[name]
    masked = redactor.text(f"debug: {text}")
    assert redactor.reveals(f"debug: {text}")
    assert "***" in masked, masked


def test_the_view_budget_does_not_let_a_three_deep_echo_through() -> None:
    """Every combination of the unescapings up to three deep is looked at: escape noise in the same text cannot use
    up a budget of views and let an HTML -> URL -> JSON echo through."""
    redactor = Redactor([LONG_KEY])
    json_escaped = "".join(f"\\u{ord(c):04x}" for c in LONG_KEY)
    url_of_json = "".join(f"%{b:02X}" for b in json_escaped.encode())
    echo = "".join(f"&#{ord(c)};" for c in url_of_json)
    assert redactor.reveals(echo)  # alone: found
    noise = " a\\\\\\\\u0025 %25252525 &amp;amp;amp;amp; \\u0026amp; %5Cu0025 &#92;u0025 %26amp; \\u005c\\u005c "
    text = noise + echo
    assert redactor.reveals(text)
    assert not redactor.reveals(redactor.text(text))
