"""Phone numbers written with separators are made E.164 when unambiguous; nothing is guessed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models import is_valid_target, normalize_target
from airflow_provider_telnyx.operators._arguments import build_request

NOW = datetime(2031, 1, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("+44 20 7946 0958", "+442079460958"),  # spaces
        ("+1.312.555.0100", "+13125550100"),  # dots
        ("+1-312-555-0100", "+13125550100"),  # dashes
        ("+1 (312) 555-0100", "+13125550100"),  # parentheses
        ("  +13125550100 ", "+13125550100"),  # a CSV cell's stray spaces
        ("+33\u00a01\u00a023\u00a045\u00a067\u00a089", "+33123456789"),  # no-break spaces (French formatting)
        ("+1 312\u2013555\u20130100", "+13125550100"),  # en dashes a spreadsheet produced
        ("+800 1234 5678", "+80012345678"),  # a non-geographic country code
    ],
)
def test_written_out_numbers_are_sent_in_e164(written: str, sent: str) -> None:
    assert normalize_target(written) == sent


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("312-555-0100", "has no '+' and country code"),  # which country? never guessed
        ("(312) 555 0100", "has no '+' and country code"),
        ("0044 20 7946 0958", "has no '+' and country code"),  # an international prefix is a guess too
        ("+44 (0)20 7946 0958", "trunk prefix"),  # valid only once the 0 is dropped: not what was written
        ("+1 555 555 5555", "is not a valid number for country code +1: no such number range"),
        ("+1 312 555", "is not a valid number for country code +1: it is too short"),
        ("+999 123 456", "does not start with a country code that exists"),
        ("+0 20 7946 0958", "starts with 0"),
        ("+1 312 555 0100 1234 5678", "has 19 digits"),
    ],
)
def test_ambiguous_or_invalid_numbers_are_refused_with_the_reason(written: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^.*" + reason.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        normalize_target(written)


@pytest.mark.parametrize(
    "value",
    [
        "+13125550100",  # already E.164: sent as written
        "+15555555555",  # E.164 but in no range phonenumbers knows: the API, not our metadata, is the authority
        "sip:bob@example.com",
        "SIP:Bob (desk) <x>",  # a SIP URI is the request model's to judge, untouched here
        "sips:+1 312 555 0100@sip.example.com",
        "bob",  # not a number: the request model refuses it with its own message
        "+1 800 FLOWERS",
        "+13125550100\n",  # a line break or a tab is never cleaned away: the model refuses the value
        "+1 312\t555 0100",
        "",
        None,
        13125550100,
    ],
)
def test_other_values_are_left_to_the_request_model(value: object) -> None:
    assert normalize_target(value) == value


def test_both_targets_are_normalised_for_the_single_and_the_batch_operator() -> None:
    request = build_request(
        {"end_user_target": "+44 20 7946 0958", "agent_target": "+1 (312) 555-0199", "scheduled_at": NOW},
        anchor=NOW,
        tags=None,
        subject="arguments of task t",
    )
    assert (request.telnyx_end_user_target, request.telnyx_agent_target) == ("+442079460958", "+13125550199")


def test_a_refused_number_is_named_once_with_its_reason_among_the_other_problems() -> None:
    with pytest.raises(TelnyxInvalidInputError) as caught:
        build_request(
            {
                "end_user_target": "312-555-0100",
                "agent_target": "+1 555 555 5555",
                "scheduled_at": NOW,
                "max_retries_client_errors": 99,
            },
            anchor=NOW,
            tags=None,
            subject="batch item",
            prefix="events[7].",
        )
    assert caught.value.problems == (
        ("events[7].end_user_target", caught.value.problems[0][1]),
        ("events[7].agent_target", "is not a valid number for country code +1: no such number range"),
        ("events[7].max_retries_client_errors", "Input should be less than or equal to 10"),
    )
    assert caught.value.problems[0][1].startswith("has no '+' and country code")
    assert "312-555-0100" not in str(caught.value)  # the reason, not the number, is in the message


def test_phonenumbers_is_imported_only_when_a_written_out_number_is_seen() -> None:
    """Our code imports ``phonenumbers`` only for a written-out number (Airflow 3.0 and 3.1 import it themselves,
    through ``sqlalchemy_utils``: what counts is the module that runs the ``import``)."""
    code = (
        "import json, os, sys, traceback\n"
        "import airflow_provider_telnyx\n"
        "root = os.path.dirname(airflow_provider_telnyx.__file__)\n"
        "importers = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'phonenumbers':\n"
        "            frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith('<')]\n"
        "            importers.append(frames[-1].filename)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "import airflow_provider_telnyx.operators.batch, airflow_provider_telnyx.operators.scheduled_event\n"
        "from airflow_provider_telnyx.models import normalize_target\n"
        "normalize_target('+13125550100'); normalize_target('sip:bob@example.com')\n"
        "before = any(f.startswith(root) for f in importers)\n"
        "normalize_target('+1 312 555 0100')\n"
        "print(json.dumps([before, 'phonenumbers' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True]


@pytest.mark.parametrize(
    "target",
    [
        "+\uff11\uff13\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff10\uff10",  # full-width digits
        "+\u0661\u0663\u0661\u0662\u0665\u0665\u0665\u0660\u0661\u0660\u0660",  # Arabic-Indic digits
        "+13125550\uff1100",  # one full-width digit among ASCII ones
    ],
)
def test_numbers_in_other_scripts_digits_are_refused_not_sent_as_written(target: str) -> None:
    # re's \d takes any Unicode digit; the API's E.164 is ASCII.
    assert not is_valid_target(target)
