"""``TelnyxScheduledEventFinishedTrigger``: an event-driven-scheduling source that fires once per finished call.

Used in an ``AssetWatcher``, it makes a DAG scheduled on the asset run for each of one assistant's scheduled events
that reaches ``completed`` or ``failed``. It only reads: one listing per poll, narrowed to a time window, no
per-event or transcript request. The window, the watermark and the restart rule are in the class docstring and in
``docs/howto/event-driven.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# BaseEventTrigger (what an AssetWatcher accepts) lives here on every Airflow we support, 3.0.6 to 3.3 (and 3.4.0b2).
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_telnyx._checks import check_duration
from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidInputError, TelnyxListingTooLongError
from airflow_provider_telnyx.hooks.endpoints import LISTING_SECONDS, MAX_PAGES
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import ConversationChannel, ScheduledEvent, metadata_matches, path_id

__all__ = [
    "CLOCK_SLACK",
    "DEFAULT_LOOK_BACK",
    "DEFAULT_MAX_IN_FLIGHT",
    "FinishedEventsWatch",
    "TelnyxScheduledEventFinishedTrigger",
    "event_payload",
    "finished_at",
]

#: How far before its start a new (or restarted) trigger reads: events finished earlier are never reported.
DEFAULT_LOOK_BACK = timedelta(hours=1)
#: The longest an event may stay between the time the API lists it at (its last dispatch) and becoming final.
DEFAULT_MAX_IN_FLIGHT = timedelta(hours=2)
#: Added on both sides of the listing's window: clock skew between the triggerer and the API.
CLOCK_SLACK = timedelta(minutes=5)
#: Pages one poll may follow by default (100 events each): a window holding more fails that poll, saying so.
DEFAULT_MAX_PAGES = 100
#: Halvings of a window that holds more than ``max_pages`` pages (at most 2**6 = 64 listings for one poll), and the
#: shortest part halved again.
MAX_SPLITS = 6
MIN_SPLIT = timedelta(seconds=2)
#: Consecutive failed polls back off up to this many seconds (or the poll interval, if longer).
MAX_FAILURE_BACKOFF = 900.0
#: At most this many of an event's ``errors`` go into a payload, each cut to :data:`MAX_TEXT` characters.
MAX_ERRORS = 3
MAX_TEXT = 500
#: At most this many ``conversation_metadata`` keys go into a payload (each key and string value cut to
#: :data:`MAX_TEXT` characters): a payload stays under about 12 kB whatever another client tagged an event with.
MAX_METADATA_KEYS = 20

MetadataValue = str | int | bool


def finished_at(event: ScheduledEvent) -> datetime:
    """When an event finished, as far as its fields tell (the API reports no finish time): the latest of its
    ``scheduled_at_fixed_datetime`` (its last dispatch, once final), ``dispatched_at``, and each call attempt's
    ``attempted_at`` plus its ``call_duration``. Deterministic, so a restarted trigger decides as the first did.

    :param event: a final event.
    :return: the estimate (timezone-aware).
    """
    times = [event.scheduled_at_fixed_datetime]
    dispatched = getattr(event, "dispatched_at", None)
    if isinstance(dispatched, datetime):
        times.append(dispatched)
    times += [a.attempted_at + timedelta(seconds=a.call_duration or 0) for a in event.attempts]
    return max(times)


def _cut(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def event_payload(event: ScheduledEvent) -> dict[str, Any]:
    """The compact, JSON-safe description of a finished event a :class:`TriggerEvent` carries (no transcript).

    :param event: a final event.
    :return: ``scheduled_event_id``, ``assistant_id``, ``status``, ``conversation_channel``, ``end_user_target``,
        ``agent_target``, ``conversation_id``, ``scheduled_at`` (its last dispatch), ``finished_at``
        (:func:`finished_at`), ``attempts`` (count), ``attempts_summary``, ``call_status``, ``errors`` (at most 3,
        cut to 500 characters), ``conversation_metadata`` (at most 20 keys, each key and text cut to 500 characters).
    """
    return {
        "scheduled_event_id": event.event_id,
        "assistant_id": event.assistant_id,
        "status": event.status_text,
        "conversation_channel": str(event.telnyx_conversation_channel),
        "end_user_target": event.telnyx_end_user_target,
        "agent_target": event.telnyx_agent_target,
        "conversation_id": event.conversation_id,
        "scheduled_at": event.scheduled_at_fixed_datetime.isoformat(),
        "finished_at": finished_at(event).isoformat(),
        "attempts": len(event.attempts),
        "attempts_summary": _cut(event.attempts_summary()),
        "call_status": getattr(event, "call_status", None),
        "errors": [_cut(error) for error in (event.errors or [])[:MAX_ERRORS]],
        "conversation_metadata": _compact(event.conversation_metadata or {}),
    }


def _compact(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The first :data:`MAX_METADATA_KEYS` keys, each key and string value cut to :data:`MAX_TEXT` characters."""
    kept = list(metadata.items())[:MAX_METADATA_KEYS]
    return {_cut(key): _cut(value) if isinstance(value, str) else value for key, value in kept}


@dataclass
class FinishedEventsWatch:
    """What a running trigger remembers, without I/O: the watermark, the window to list, the ids already reported.

    The reporting cutoff (``start - look_back``) never moves. The watermark starts there and moves to the time of
    each complete listing: every event that finished before it has been seen. The next listing asks for events
    whose ``scheduled_at_fixed_datetime`` is in ``[watermark - max_in_flight - slack, now + slack]``: a final
    event's ``scheduled_at_fixed_datetime`` is its last dispatch (the API moves it forward on each retry), which is
    at most ``max_in_flight`` before it finished. Only events inside that window are considered, so an id pruned
    once its event left the window can never be reported again, whatever the API's filter returns.

    :param start: when the trigger started (timezone-aware).
    :param look_back: how far before ``start`` finished events are still reported.
    :param max_in_flight: the longest from an event's last dispatch until it is final.
    :param conversation_channel: report only this channel's events (``None``: both).
    :param conversation_metadata: report only events whose ``conversation_metadata`` holds these keys and values.
    """

    start: datetime
    look_back: timedelta
    max_in_flight: timedelta
    conversation_channel: str | None = None
    conversation_metadata: Mapping[str, MetadataValue] | None = None
    cutoff: datetime = field(init=False)
    watermark: datetime = field(init=False)
    #: Reported ids, with the ``scheduled_at_fixed_datetime`` that says when they leave the window.
    reported: dict[str, datetime] = field(default_factory=dict, init=False)
    #: Events listed outside the window asked for (the API's date filter reads another time than we assume).
    outside_window: int = field(default=0, init=False)
    #: Parts of windows too dense to list within ``max_pages`` even after halving (their events are not reported).
    unlisted: int = field(default=0, init=False)
    polls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.cutoff = self.watermark = self.start - self.look_back

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The ``from_date``/``to_date`` of the listing at ``now``.

        :param now: the poll's time.
        :return: the inclusive range.
        """
        return self.watermark - self.max_in_flight - CLOCK_SLACK, max(now, self.watermark) + CLOCK_SLACK

    def matches(self, event: ScheduledEvent) -> bool:
        """Whether ``event`` passes the channel and metadata filters (final or not).

        :param event: a listed event.
        """
        if (
            self.conversation_channel is not None
            and str(event.telnyx_conversation_channel) != self.conversation_channel
        ):
            return False
        return metadata_matches(event.conversation_metadata, self.conversation_metadata or {})

    def consider(
        self, event: ScheduledEvent, window: tuple[datetime, datetime], found: dict[str, ScheduledEvent]
    ) -> None:
        """Keep ``event`` in ``found`` if this listing should report it: inside the window, final (``completed``
        or ``failed``; an unknown status is not final), matching the filters, finished at or after the cutoff,
        and not reported before.

        :param event: a listed event.
        :param window: the window the listing asked for.
        :param found: the events to report, by id (a listing may show an event twice: it is kept once).
        """
        if not window[0] <= event.scheduled_at_fixed_datetime <= window[1]:
            self.outside_window += 1
            return
        if not event.event_id or not event.is_final or event.event_id in self.reported or not self.matches(event):
            return
        if finished_at(event) >= self.cutoff:
            found[event.event_id] = event

    def commit(self, found: Mapping[str, ScheduledEvent], polled_at: datetime) -> list[dict[str, Any]]:
        """Close a complete listing: mark its events reported, move the watermark to the poll's time, and forget
        the ids whose events can no longer be listed.

        :param found: what :meth:`consider` kept.
        :param polled_at: when the listing started.
        :return: the payloads to fire, oldest finish first.
        """
        self.polls += 1
        events = sorted(found.values(), key=lambda e: (finished_at(e), e.event_id))
        self.reported.update((e.event_id, e.scheduled_at_fixed_datetime) for e in events)
        self.watermark = max(self.watermark, polled_at)
        lower = self.window(polled_at)[0]
        self.reported = {event_id: at for event_id, at in self.reported.items() if at >= lower}
        return [event_payload(e) for e in events]


class TelnyxScheduledEventFinishedTrigger(BaseEventTrigger):
    """Fire one :class:`TriggerEvent` for each of an assistant's scheduled events that becomes ``completed`` or
    ``failed``: the source of an ``AssetWatcher``, so that a DAG scheduled on the asset runs per finished call::

        Asset("telnyx_finished_calls", watchers=[AssetWatcher(name="telnyx_finished_calls",
              trigger=TelnyxScheduledEventFinishedTrigger(assistant_id="assistant-..."))])

    The payload (the asset event's ``extra["payload"]``) is compact and JSON-safe, with no transcript:
    ``scheduled_event_id``, ``assistant_id``, ``status``, ``conversation_channel``, ``end_user_target``,
    ``agent_target``, ``conversation_id``, ``scheduled_at``, ``finished_at``, ``attempts``,
    ``attempts_summary``, ``call_status``, ``errors``, ``conversation_metadata``.

    Guarantees:

    - **Where it starts**: at ``start - look_back``. Events that finished earlier are never reported; those that
      finished later are reported once each while the trigger runs. An event's finish time is estimated from its
      fields (:func:`finished_at`; the API reports none).
    - **Restarts: at least once.** Airflow keeps nothing of a trigger but its ``serialize()`` kwargs; a triggerer
      restart re-creates it, and it reads again from its new start minus ``look_back``. Events that finished in
      that hour are delivered again (de-duplicate on ``scheduled_event_id``); none is lost if the triggerer was
      down for less than ``look_back``.
    - **Window**: each poll lists events whose ``scheduled_at_fixed_datetime`` is within ``[watermark -
      max_in_flight - 5 min, now + 5 min]``, the watermark being the start of the last complete listing. The API
      moves that time forward on every retry, so a call answered on its fourth attempt, hours after its first
      time, is listed near its last dispatch and is seen. An event still in flight more than ``max_in_flight``
      after its last dispatch would be missed. The API documents neither the order of a listing nor which time
      ``from_date`` reads: nothing here depends on the order, a listed event outside the window is ignored (and
      logged once), and each event stays in the window for about ``max_in_flight`` after it finished, so a poll
      that missed it (pages shifting while events are created) sees it in the next one.
    - **Bounded**: one listing per poll (``ceil(events in the window / 100)`` requests, at most ``max_pages``,
      within the hook's listing time budget), no per-event or transcript request; a window holding more than
      ``max_pages`` pages (a campaign's burst) is listed in halves, at most 6 halvings deep; a part still too
      dense (more than ``max_pages`` pages scheduled within 2 s, or within 1/64 of the window) is skipped with an
      ERROR naming its times, so a burst never blocks later polls. The ids it remembers are those still inside
      the window (and each payload's metadata is cut to 20 keys of 500 characters). It only reads: nothing is
      created, changed or deleted.
    - **Errors**: a failed poll (after the hook's retries) is logged, and the next waits longer (doubling, up to
      15 minutes); the trigger goes on, reporting nothing it has not seen final.

    :param assistant_id: the assistant whose events are watched.
    :param telnyx_conn_id: the Airflow connection (default ``telnyx_default``; only its id is serialized, never the
        key).
    :param conversation_channel: ``"phone_call"`` or ``"sms_chat"`` to watch one channel (also narrows the
        listing); ``None`` (default) for both.
    :param conversation_metadata: only events whose ``conversation_metadata`` holds every one of these keys with
        the same JSON value (``1``, ``"1"`` and ``true`` differ); ``None`` (default) for all.
    :param look_back: how far before its start a (re)started trigger reads, a ``timedelta`` or seconds (default
        one hour); also the longest triggerer downtime without loss.
    :param max_in_flight: the longest from an event's last dispatch until it is final (ringing, the conversation,
        SMS delivery, the API's dispatch lag), a ``timedelta`` or seconds (default two hours). Larger costs list
        pages, not correctness.
    :param poll_interval: seconds between polls (default 60).
    :param max_pages: the most pages one poll follows (default 100, i.e. 10,000 events in the window).
    """

    serialized: tuple[str, ...] = (
        "assistant_id",
        "telnyx_conn_id",
        "conversation_channel",
        "conversation_metadata",
        "look_back",
        "max_in_flight",
        "poll_interval",
        "max_pages",
    )

    def __init__(
        self,
        *,
        assistant_id: str,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        conversation_channel: str | None = None,
        conversation_metadata: Mapping[str, MetadataValue] | None = None,
        look_back: timedelta | float = DEFAULT_LOOK_BACK,
        max_in_flight: timedelta | float = DEFAULT_MAX_IN_FLIGHT,
        poll_interval: float = 60.0,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # airflow-core's BaseTrigger is not annotated
        path_id("assistant_id", assistant_id)
        self.assistant_id = assistant_id
        self.telnyx_conn_id = telnyx_conn_id
        self.conversation_channel = _channel(conversation_channel)
        self.conversation_metadata = _metadata(conversation_metadata)
        self.look_back = _seconds("look_back", look_back)
        self.max_in_flight = _seconds("max_in_flight", max_in_flight)
        check_duration("poll_interval", poll_interval)
        self.poll_interval = float(poll_interval)
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or not 1 <= max_pages <= MAX_PAGES:
            raise TelnyxInvalidInputError(
                [("max_pages", f"must be an integer from 1 to {MAX_PAGES}")], subject="trigger argument"
            )
        self.max_pages = max_pages
        # Not serialized: replaced by tests to run without waiting; the state of the running trigger.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.clock: Callable[[], float] = time.time
        self.watch: FinishedEventsWatch | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the JSON-safe kwargs that re-create this trigger (its only state: Airflow
        also hashes them to tell watchers apart, so they hold no time of their own).

        :return: ``(classpath, kwargs)``.
        """
        return f"{type(self).__module__}.{type(self).__qualname__}", {n: getattr(self, n) for n in self.serialized}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def _hook(self) -> TelnyxHook:
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id, async_sleep=self.sleep)

    async def _poll(self, hook: TelnyxHook, watch: FinishedEventsWatch) -> list[dict[str, Any]]:
        """One listing of the window (split in halves while a part holds more than ``max_pages`` pages); the
        payloads of the events it finds finished."""
        polled_at = self._now()
        window = watch.window(polled_at)
        found: dict[str, ScheduledEvent] = {}
        outside = watch.outside_window
        await self._list(hook, watch, window, window, found, splits=0)
        if watch.outside_window > outside and not outside:
            self.log.warning(
                "The listing of %s's events from %s to %s returned %d events scheduled outside that range: the API's "
                "date filter does not read scheduled_at_fixed_datetime, and events that finished may be missed "
                "(see docs/howto/event-driven.md)",
                self.assistant_id,
                window[0].isoformat(),
                window[1].isoformat(),
                watch.outside_window - outside,
            )
        return watch.commit(found, polled_at)

    async def _list(
        self,
        hook: TelnyxHook,
        watch: FinishedEventsWatch,
        window: tuple[datetime, datetime],
        part: tuple[datetime, datetime],
        found: dict[str, ScheduledEvent],
        *,
        splits: int,
    ) -> None:
        """List ``part`` of the window; when it holds more than ``max_pages`` pages (a campaign's burst), list its
        halves instead, at most :data:`MAX_SPLITS` halvings deep, so that one burst never blocks every later poll."""
        try:
            listing = hook.alist_scheduled_events(
                self.assistant_id,
                conversation_channel=self.conversation_channel,
                from_date=part[0],
                to_date=part[1],
                max_pages=self.max_pages,
                max_seconds=LISTING_SECONDS,
            )
            async for event in listing:
                watch.consider(event, window, found)
        except TelnyxListingTooLongError:
            span = part[1] - part[0]
            if splits >= MAX_SPLITS or span < MIN_SPLIT:
                # Events scheduled this densely cannot be listed within max_pages: they are skipped, loudly, and
                # the rest of the window is reported (failing the poll would block every later one for good).
                watch.unlisted += 1
                self.log.error(
                    "%s's events scheduled from %s to %s fill more than %d pages even after halving the window %d "
                    "times: those events are not reported. Raise max_pages to list them.",
                    self.assistant_id,
                    part[0].isoformat(),
                    part[1].isoformat(),
                    self.max_pages,
                    splits,
                )
                return
            middle = part[0] + span / 2
            self.log.info("%s to %s holds more than %d pages: listing its halves", part[0], part[1], self.max_pages)
            await self._list(hook, watch, window, (part[0], middle), found, splits=splits + 1)
            await self._list(hook, watch, window, (middle, part[1]), found, splits=splits + 1)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever, yielding one event per newly finished scheduled event.

        :return: an async iterator of :class:`TriggerEvent`, one per finished event.
        """
        watch = self.watch = FinishedEventsWatch(
            start=self._now(),
            look_back=timedelta(seconds=self.look_back),
            max_in_flight=timedelta(seconds=self.max_in_flight),
            conversation_channel=self.conversation_channel,
            conversation_metadata=self.conversation_metadata,
        )
        self.log.info("Watching %s's scheduled events finished since %s", self.assistant_id, watch.cutoff.isoformat())
        hook = self._hook()
        failures = 0
        try:
            while True:
                try:
                    payloads = await self._poll(hook, watch)
                except TelnyxApiError as error:
                    failures += 1
                    delay = min(
                        self.poll_interval * 2 ** min(failures - 1, 16), max(self.poll_interval, MAX_FAILURE_BACKOFF)
                    )
                    delay = max(delay, error.retry_after or 0.0)
                    fatal = error.http_status in (401, 403, 404) or not error.retryable
                    log = self.log.error if fatal else self.log.warning
                    log(
                        "Listing %s's scheduled events failed (%d in a row), next try in %.0f s: %s",
                        self.assistant_id,
                        failures,
                        delay,
                        error,
                    )
                    await self.sleep(delay)
                    continue
                failures = 0
                for payload in payloads:
                    self.log.info("Scheduled event %s %s: firing", payload["scheduled_event_id"], payload["status"])
                    yield TriggerEvent(payload)  # type: ignore[no-untyped-call]  # airflow-core is not annotated
                await self.sleep(self.poll_interval)
        finally:
            await hook.aclose()


def _seconds(name: str, value: timedelta | float) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    check_duration(name, seconds, allow_zero=True)
    return float(seconds)


def _channel(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return ConversationChannel(value).value
    except ValueError:
        choices = ", ".join(repr(c.value) for c in ConversationChannel)
        raise TelnyxInvalidInputError(
            [("conversation_channel", f"must be one of {choices} or None")], subject="trigger argument"
        ) from None


def _metadata(value: Mapping[str, MetadataValue] | None) -> dict[str, MetadataValue] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TelnyxInvalidInputError(
            [("conversation_metadata", "must be a mapping or None")], subject="trigger argument"
        )
    problems = [
        (f"conversation_metadata.{key}", "must be a string key with a string, integer or boolean value")
        for key, item in value.items()
        if not isinstance(key, str) or not isinstance(item, str | int | bool)
    ]
    if problems:
        raise TelnyxInvalidInputError(problems, subject="trigger argument")
    return dict(sorted(value.items()))
