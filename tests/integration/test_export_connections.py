"""An export never has more requests at once than its hook has connections (``paced_hook``: ``max_in_flight`` + 1):
no request waits for a connection while its deadline runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from tests.integration.test_export_records import export, seed_calls


def peak_requests_at_once(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the async requests under way at once (from the hook's send to its answer)."""
    state = {"now": 0, "peak": 0}
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        try:
            return await original(self, request, **kwargs)
        finally:
            state["now"] -= 1

    monkeypatch.setattr(httpx.AsyncClient, "send", send)
    return state


@pytest.mark.telnyx_simulator(faults=Faults(latency=0.02))
def test_an_export_never_has_more_requests_at_once_than_its_hook_has_connections(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export's listing pages are requested by run_bounded's job source, outside the limiter's places:
    max_concurrency reads and one page at once. A pool of max_concurrency connections made the page wait for one,
    its deadline running."""
    seed_calls(sim, *range(1, 251))  # three listing pages, each event with a conversation to read
    state = peak_requests_at_once(monkeypatch)
    summary = export(f"file://{tmp_path / 'events.jsonl'}", max_concurrency=2)
    assert summary["rows"] == 250
    assert state["peak"] == 3  # two reads and a listing page
    assert sim.stats()["client_connections"] <= 3  # the hook's connections (paced_hook: max_in_flight + 1)
