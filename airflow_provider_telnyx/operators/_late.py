"""When an event not yet created is sent, written once: :class:`LateSendRule` is what every create path consults
(the single operator, each batch item, the notifier), at the moment an event is about to be sent, after a retry has
looked for what earlier tries created (:meth:`LateSendRule.reattach_window` says where)."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_telnyx._common import StrEnum
from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidInputError, TelnyxLateEventError

__all__ = [
    "DEFAULT_MAX_LATENESS",
    "LATE_SEND_MARGIN",
    "MIN_LEAD",
    "REATTACH_SLACK",
    "LatePolicy",
    "LateSendRule",
]


class LatePolicy(StrEnum):
    """What a create does with an event not yet created whose time has passed when it is about to be sent (a retry
    after an outage, a batch that outlasts its lead time, a slow start)."""

    #: Send it with ``scheduled_at`` = now + :data:`LATE_SEND_MARGIN` and log a WARNING (unless later than
    #: ``max_lateness``, which fails it).
    SEND_NOW = "send_now"
    #: Do not send it: the single operator skips, the batch reports the item ``skipped``.
    SKIP = "skip"
    #: Do not send it: a non-retryable :class:`~airflow_provider_telnyx.exceptions.TelnyxLateEventError`.
    FAIL = "fail"


#: An event due in less than this is late: the request and the API's clock need a moment.
MIN_LEAD = timedelta(seconds=2)
#: A late event sent under ``send_now`` is scheduled this long after the moment it is sent.
LATE_SEND_MARGIN = timedelta(seconds=10)
#: Default ``max_lateness``: later than this, ``send_now`` fails the event instead of calling hours late.
DEFAULT_MAX_LATENESS = timedelta(hours=1)
#: Added on both sides of a reattach window: clock skew between us and the API, and rounding of the filter.
REATTACH_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class LateSendRule:
    """What a late send does: the policy and how late ``send_now`` may still send.

    :param policy: the :class:`LatePolicy`.
    :param max_lateness: how late ``send_now`` may still send; ``None`` never refuses.
    """

    policy: LatePolicy = LatePolicy.SEND_NOW
    max_lateness: timedelta | None = DEFAULT_MAX_LATENESS

    @classmethod
    def of(cls, late_policy: Any, max_lateness: Any) -> LateSendRule:
        """Validate ``late_policy`` and ``max_lateness`` as an operator received them (rendered), before any request.

        :param late_policy: ``"send_now"``, ``"skip"`` or ``"fail"``.
        :param max_lateness: a positive ``timedelta``, a number of seconds (or its string), or ``None`` for no limit.
        :raises TelnyxInvalidInputError: naming the bad parameter.
        """
        problems: list[tuple[str, str]] = []
        try:
            policy = LatePolicy(late_policy)
        except ValueError:
            problems.append(("late_policy", "must be 'send_now', 'skip' or 'fail'"))
            policy = LatePolicy.SEND_NOW
        limit: timedelta | None = None
        if isinstance(max_lateness, str) and max_lateness.strip():
            with contextlib.suppress(ValueError):  # a rendered number of seconds; anything else is refused below
                max_lateness = float(max_lateness)
        if isinstance(max_lateness, timedelta):
            limit = max_lateness
        elif (
            isinstance(max_lateness, int | float) and not isinstance(max_lateness, bool) and math.isfinite(max_lateness)
        ):
            limit = timedelta(seconds=max_lateness)
        elif max_lateness is not None:
            problems.append(("max_lateness", "must be a timedelta, a number of seconds or None"))
        if limit is not None and limit <= timedelta(0):
            problems.append(("max_lateness", "must be positive (None: no limit)"))
        if problems:
            raise TelnyxInvalidInputError(problems, subject="operator argument")
        return cls(policy, limit)

    def send_time(self, intended: datetime, now: datetime, *, subject: str) -> datetime | None:
        """When an event not yet created is sent, decided at the moment it is about to be sent.

        :param intended: its ``scheduled_at``.
        :param now: the current time.
        :param subject: names the event in errors (``"scheduled_at"``, ``"events[17]"``).
        :return: ``intended`` when not late (due in :data:`MIN_LEAD` or more), now + :data:`LATE_SEND_MARGIN`
            under ``send_now``, or ``None`` to skip it.
        :raises TelnyxLateEventError: under ``fail``, or when later than ``max_lateness``.
        """
        if intended - now >= MIN_LEAD:
            return intended
        lateness = max(now - intended, timedelta(0))
        due = intended.astimezone(timezone.utc).isoformat()
        what = f"{subject} was due at {due} ({_duration(lateness)} before now)"
        if self.policy is LatePolicy.FAIL:
            raise TelnyxLateEventError(f"{what} and late_policy='fail': not sent")
        if self.policy is LatePolicy.SKIP:
            return None
        if self.max_lateness is not None and lateness > self.max_lateness:
            limit = _duration(self.max_lateness)
            raise TelnyxLateEventError(
                f"{what}, later than max_lateness ({limit}): not sent, nobody is called this late"
            )
        return now + LATE_SEND_MARGIN

    def after_refusal(
        self, error: TelnyxApiError, intended: datetime, sent_for: datetime, now: datetime, *, subject: str
    ) -> datetime | None:
        """The API refused a create: when it says the time has passed by its clock (a 400/422 on
        ``scheduled_at_fixed_datetime``) and the intended time was what we sent, the rule decides once more, as if
        now were the intended time at least; any other refusal is the caller's.

        :param error: what the API answered.
        :param intended: the event's intended time.
        :param sent_for: the time that was sent.
        :param now: the current time.
        :param subject: names the event in errors.
        :return: the time to send again, or ``None`` to skip it.
        :raises TelnyxApiError: ``error`` itself, when it is another refusal or the send was already re-timed.
        """
        if not error.is_time_in_past or sent_for != intended:
            raise error
        return self.send_time(intended, max(now, intended), subject=subject)

    def reattach_window(
        self, intended: list[datetime], *, anchor: datetime, now: datetime, retry_interval: timedelta | None
    ) -> tuple[datetime, datetime]:
        """The ``from_date``/``to_date`` a retry lists to find what earlier tries created, so that the lookup costs
        what the task asked for, not what the assistant's history holds.

        The API does not document which time its date filter reads, so the window holds both: an earlier try
        created its events between the first try's start (``anchor``) and now; each was scheduled for its intended
        time or, if sent late, for the moment it was sent (no later than ``max_lateness`` after the intended time,
        and never after now) plus :data:`LATE_SEND_MARGIN`; a phone call the API retries moves its time to the end
        of an attempt plus ``retry_interval``, at most ``now + retry_interval``.

        :param intended: the intended times of the events looked for.
        :param anchor: when the first try started.
        :param now: the current time.
        :param retry_interval: the longest ``retry_interval_secs`` among them, when the API retries them.
        :return: the inclusive range to list.
        """
        earliest, latest = min(intended), max(intended)
        sent_by = now if self.max_lateness is None else min(now, latest + self.max_lateness)
        upper = max(sent_by, latest) + LATE_SEND_MARGIN
        if retry_interval is not None:
            upper = max(upper, now + retry_interval)
        return min(earliest, anchor) - REATTACH_SLACK, upper + REATTACH_SLACK


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
