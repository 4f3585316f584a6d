"""The one redaction point, directly: every view a reader could decode the key from is masked; other text is not
touched. (tests/reliability/test_generative.py throws generated hostile answers at the whole hook.)"""

from __future__ import annotations

import base64
import html
import json
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest

from airflow_provider_telnyx.hooks._redact import MASK, Redactor, redact_library_logs

KEY = "KEYgen0190A4B2C7D9E1_Xq9+Wz7/Lm4Rt8=Vb2Np6Hs3"
REDACT = Redactor([KEY])


def spellings() -> dict[str, str]:
    return {
        "raw": KEY,
        "json": json.dumps(KEY),
        "all \\u": "".join(f"\\u{ord(c):04x}" for c in KEY),
        "some \\u": "".join(f"\\u{ord(c):04X}" if i % 3 == 0 else c for i, c in enumerate(KEY)),
        "url": quote(KEY, safe=""),
        "url lower hex": "".join(f"%{ord(c):02x}" for c in KEY),
        "url plus": quote_plus(KEY),
        "url of url": quote(quote(KEY, safe=""), safe=""),
        "html": "".join(f"&#{ord(c)};" for c in KEY),
        "html named": html.escape(KEY),
        "upper": KEY.upper(),
        "repr of json bytes": repr(json.dumps(KEY).encode()),
        "cut short": KEY[:30] + "...",
        "base64": base64.b64encode(b"Bearer " + KEY.encode()).decode(),
        "base64 url-safe": base64.urlsafe_b64encode(b"xy" + KEY.encode()).decode(),
    }


@pytest.mark.parametrize("name", spellings())
def test_every_spelling_is_masked_in_any_surrounding(name: str) -> None:
    text = f"error: Bearer {spellings()[name]} (from the proxy)"
    masked = REDACT.text(text)
    assert REDACT.reveals(text)
    assert not REDACT.reveals(masked), masked
    assert MASK in masked


def test_an_echo_holding_the_key_raw_and_escaped_is_masked_twice() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    masked = REDACT.text(f"a={KEY}; b={escaped}")
    assert masked.count(MASK) == 2
    assert not REDACT.reveals(masked)


@pytest.mark.parametrize(
    "text",
    ["", "OK", "Too Many Requests", "+13125550100 %20 \\n &amp;", "KEYgen0190A4B2C7D9E1", json.dumps({"a": [1, 2]})],
)
def test_text_without_the_key_is_returned_unchanged(text: str) -> None:
    assert REDACT.text(text) == text
    assert not REDACT.reveals(text)


def test_decoded_json_and_headers_are_walked() -> None:
    value = {"errors": [{"detail": f"bad {KEY}"}], KEY: 1, "n": 2}
    assert not REDACT.reveals(json.dumps(REDACT.value(value)))
    headers = httpx.Headers({"content-type": f"application/{KEY}", "x-other": "fine"})
    cleaned = REDACT.headers(headers)
    assert KEY not in str(cleaned.multi_items())
    assert cleaned["x-other"] == "fine"
    plain = httpx.Headers({"content-type": "application/json"})
    assert REDACT.headers(plain) is plain


def test_bytes_lose_the_raw_and_common_escaped_spellings() -> None:
    body = json.dumps({"a": KEY, "b": quote(KEY, safe="")}).encode()
    assert KEY.encode() not in REDACT.bytes(body)


def test_a_short_secret_counts_whole_and_no_secret_changes_nothing() -> None:
    short = Redactor(["KEYshort1"])
    assert short.text("x KEYshort1 y") == f"x {MASK} y"
    assert short.text("KEYshort") == "KEYshort"  # a part of a short key is not the key
    assert Redactor([]).text(f"x {KEY}") == f"x {KEY}"


def test_the_http_libraries_log_records_pass_it(caplog: pytest.LogCaptureFixture) -> None:
    redact_library_logs(REDACT)
    with caplog.at_level(logging.DEBUG, logger="httpcore.http11"):
        logging.getLogger("httpcore.http11").debug("receive_response_headers.complete return_value=%r", (b"400", KEY))
    assert KEY not in caplog.text
    assert MASK in caplog.text
