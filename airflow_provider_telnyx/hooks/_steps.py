"""Several requests in a row (steps), written once for the sync and the async side (sans-IO).

Steps are a generator: it yields an :class:`~._http.ApiRequest` and receives its decoded JSON (or has its
:class:`~airflow_provider_telnyx.exceptions.TelnyxApiError` thrown in), or yields a list of requests and receives a
list of decoded JSON or errors, as values (the async side sends them concurrently); it returns a result.
:func:`run_steps` drives it with a sync call, :func:`arun_steps` with an async one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar, cast

from airflow_provider_telnyx.exceptions import TelnyxApiError
from airflow_provider_telnyx.hooks._http import ApiRequest

__all__ = ["Steps", "arun_steps", "run_steps"]

_T = TypeVar("_T")

#: Several requests to the API written once for both sides: a generator that yields an :class:`ApiRequest` (and
#: receives its decoded JSON, or has its :class:`TelnyxApiError` thrown in) or a list of requests (and receives a
#: list of decoded JSON or errors, as values: the async side sends them concurrently), and returns a result.
Steps = Generator["ApiRequest | list[ApiRequest]", Any, _T]


class _StepsDriver(Generic[_T]):
    """The generator protocol of steps, driven the same way by both sides: ``advance`` to the next step
    (``None`` once it returned, its value in ``result``), after handing it the last step's answer."""

    def __init__(self, steps: Steps[_T]) -> None:
        self._steps = steps
        self._reply: Any = None
        self._error: TelnyxApiError | None = None
        self.result: _T | None = None

    def advance(self) -> ApiRequest | list[ApiRequest] | None:
        try:
            step = self._steps.send(self._reply) if self._error is None else self._steps.throw(self._error)
        except StopIteration as done:
            self.result = cast("_T", done.value)
            return None
        self._reply, self._error = None, None
        return step

    def answer(self, outcome: Any) -> None:
        """One request's outcome: its JSON is sent in, its error thrown in."""
        if isinstance(outcome, TelnyxApiError):
            self._error = outcome
        else:
            self._reply = outcome

    def answer_all(self, outcomes: list[Any]) -> None:
        """A list's outcomes, errors included, sent in as values."""
        self._reply = outcomes


def run_steps(steps: Steps[_T], call: Callable[[ApiRequest], Any]) -> _T:
    """Drive ``steps`` with a sync ``call``.

    :param call: sends one request and returns its decoded JSON (raising :class:`TelnyxApiError`).
    :return: what the steps return.
    """

    def outcome(request: ApiRequest) -> Any:
        try:
            return call(request)
        except TelnyxApiError as raised:
            return raised

    driver = _StepsDriver(steps)
    while (step := driver.advance()) is not None:
        if isinstance(step, list):
            driver.answer_all([outcome(request) for request in step])
        else:
            driver.answer(outcome(step))
    return cast("_T", driver.result)


async def arun_steps(steps: Steps[_T], acall: Callable[[ApiRequest], Awaitable[Any]], *, concurrency: int = 10) -> _T:
    """Drive ``steps`` with an async ``acall``; a list of requests is sent concurrently (at most ``concurrency``).

    :param acall: sends one request and returns its decoded JSON (raising :class:`TelnyxApiError`).
    :param concurrency: requests of one list in flight at once.
    :return: what the steps return.
    """
    limit = asyncio.Semaphore(concurrency)

    async def outcome(request: ApiRequest) -> Any:
        async with limit:
            try:
                return await acall(request)
            except TelnyxApiError as raised:
                return raised

    driver = _StepsDriver(steps)
    while (step := driver.advance()) is not None:
        if isinstance(step, list):
            driver.answer_all(list(await asyncio.gather(*(outcome(request) for request in step))))
        else:
            driver.answer(await outcome(step))
    return cast("_T", driver.result)
