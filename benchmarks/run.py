"""``make bench``: every benchmark against the simulator on loopback, side by side with its alternatives.

Writes ``benchmarks/results.json``, PNG plots under ``docs/_static/`` and regenerates ``docs/benchmarks.md``.
Absolute times drift on a shared machine, so each benchmark runs our path and the alternatives in one run and
reports ratios. Run one benchmark with ``python benchmarks/run.py B3``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
STATIC = ROOT / "docs" / "_static"
PAGE = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT))

from airflow_provider_telnyx.testing.simulator import Simulator  # noqa: E402

if TYPE_CHECKING:
    from airflow.sdk import Context

ASSISTANT = "assistant-bench"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


class StubTI:
    """The little of a task instance the operators touch outside Airflow."""

    dag_id, run_id, task_id, map_index, try_number = "bench", "bench_run", "bench_task", -1, 1
    stats_tags: dict[str, str] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def connect(simulator: Simulator) -> None:
    os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"] = simulator.connection_json()


def body(i: int, at: datetime | str) -> dict[str, Any]:
    return {
        "telnyx_conversation_channel": "phone_call",
        # 556-xxxx: outside the simulator's outcome table (555-0100..0199), so every target simply answers.
        "telnyx_end_user_target": f"+1312{5560000 + i:07d}",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": at,
    }


# -- B1 batch create -------------------------------------------------------------------------------------------


#: The server models B1 runs on: (window, headers, window seconds, items). Six one-second models, a ten-second
#: fixed window (the API does not publish its window's length), and a short batch on the bucket that announces its
#: limit only in 429s (where the ramp to the limit weighs most).
MODELS = [
    *((window, headers, 1, 2000) for window in ("fixed", "token_bucket") for headers in ("always", "on_429", "never")),
    ("fixed", "always", 10, 2000),
    ("token_bucket", "on_429", 1, 600),
]
PEER = "peer: SDK + Semaphore, aiolimiter at 95% of the known limit"


def model_label(window: str, headers: str, seconds: int, items: int) -> str:
    return f"{window} {seconds} s, headers {headers}" + (f", {items} items" if items != 2000 else "")


def b1_batch_create(limit: int = 100, latency: float = 0.05, with_peer: bool = True) -> dict[str, Any]:
    """Our batch operator (and, with ``with_peer``, the hand-written peer) on every server model of :data:`MODELS`."""
    import telnyx

    from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator

    rows: dict[str, Any] = {}
    at = datetime.now(timezone.utc) + timedelta(days=1)

    def measure(name: str, simulator: Simulator, n: int, run: Callable[[], int]) -> dict[str, Any]:
        started = time.monotonic()
        failed = run()
        elapsed = time.monotonic() - started
        creates = [e for e in simulator.journal if e.route == "create"]
        moments = [datetime.fromisoformat(e.at).timestamp() for e in creates]
        first = min(moments)
        steady = [(t, e.status) for t, e in zip(moments, creates, strict=True) if first + 10 <= t <= max(moments) - 1]
        span = (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0.0
        per_item: dict[str, int] = {}
        for event in simulator.events(ASSISTANT):
            per_item[event["telnyx_end_user_target"]] = per_item.get(event["telnyx_end_user_target"], 0) + 1
        throttled = sum(e.status == 429 for e in creates)
        row = {
            "events": n,
            "seconds": round(elapsed, 1),
            "share_of_limit": round(n / elapsed / limit, 3),
            "steady_share_of_limit": round(sum(s == 201 for _, s in steady) / span / limit, 3) if span else None,
            "share_429": round(throttled / max(len(creates), 1), 4),
            "steady_share_429": round(sum(s == 429 for _, s in steady) / max(len(steady), 1), 4),
            "failed": failed,
            "duplicates": sum(count - 1 for count in per_item.values()),
        }
        log(f"B1 {name}: {row}")
        return row

    def ours(simulator: Simulator, n: int) -> int:
        op = TelnyxCreateScheduledEventsOperator(
            task_id="b1",
            assistant_id=ASSISTANT,
            agent_target="+13125550199",
            scheduled_at=at,
            events=[{"end_user_target": f"+1312{5560000 + i:07d}"} for i in range(n)],
            fail_on_item_error=False,
            tag_metadata=False,
            progress_interval=10,
        )
        # StubTI stands in for the task runner's task instance (the parts the operator uses); no state store.
        return int(op.execute(cast("Context", {"ti": StubTI(), "task_state_store": None}))["failed"])

    def peer(simulator: Simulator, n: int) -> int:
        # What a competent engineer writes by hand: the official async client, a semaphore, aiolimiter at 95% of
        # the limit they were told.
        from aiolimiter import AsyncLimiter

        async def go() -> int:
            client = telnyx.AsyncTelnyx(api_key=simulator.api_key, base_url=simulator.base_url)
            limiter = AsyncLimiter(0.95 * limit, 1)
            gate = asyncio.Semaphore(32)

            async def one(i: int) -> int:
                async with gate, limiter:
                    try:
                        await client.ai.assistants.scheduled_events.create(ASSISTANT, **body(i, at))
                    except telnyx.APIError:
                        return 1
                return 0

            failed = sum(await asyncio.gather(*(one(i) for i in range(n))))
            await client.close()
            return failed

        return asyncio.run(go())

    for window, headers, seconds, n in MODELS:
        for client, run in (("ours", ours), (PEER, peer))[: 2 if with_peer else 1]:
            simulator = Simulator(seed=1, assistants=(ASSISTANT,))
            simulator.set_faults(
                latency=latency,
                rate_limit=limit * seconds,
                rate_limit_window=window,
                rate_limit_window_seconds=seconds,
                rate_limit_headers=headers,
            )
            label = model_label(window, headers, seconds, n)
            with simulator.serve_in_thread():
                connect(simulator)
                rows[f"{label}: {client}"] = measure(f"{label}: {client}", simulator, n, partial(run, simulator, n))
    ours_rows = {label: row for label, row in rows.items() if label.endswith(": ours")}
    full = {label: row for label, row in ours_rows.items() if row["events"] == 2000}
    short = ours_rows[f"{model_label('token_bucket', 'on_429', 1, 600)}: ours"]
    return {
        "limit_per_second": limit,
        "latency_ms": latency * 1000,
        "rows": rows,
        "targets": {
            "ours at least 90% of the limit in steady state on every model": all(
                (row["steady_share_of_limit"] or 0) >= 0.9 for row in full.values()
            ),
            "ours under 2% of requests answered 429 in steady state on every model": all(
                row["steady_share_429"] < 0.02 for row in full.values()
            ),
            "ours 0 failed and 0 duplicates on every model": all(
                row["failed"] == 0 and row["duplicates"] == 0 for row in ours_rows.values()
            ),
            "ours at least 90% of the limit over the whole 600-item batch on the bucket announcing only in 429s": (
                short["share_of_limit"] >= 0.9
            ),
            **(
                {
                    "ours not slower than the peer where the API announces the limit (headers always)": all(
                        row["seconds"] <= rows[label.replace(": ours", f": {PEER}")]["seconds"] * 1.02
                        for label, row in ours_rows.items()
                        if "headers always" in label
                    )
                }
                if with_peer
                else {}
            ),
        },
    }


# -- B2 waiting at scale ---------------------------------------------------------------------------------------

WAIT_CLIENT = r"""
import asyncio, json, os, resource, sys, time
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a thousand triggers hold a thousand connections
mode, ids = sys.argv[1], json.load(open(sys.argv[2]))
poll = float(sys.argv[3])
detected = {}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

async def coalesced():
    hook = TelnyxHook(max_retries=10)
    waiter = ManyEventsWaiter(event_ids=ids, poll_interval=poll)
    cycles = 0
    while True:
        before = set(waiter.pending)
        cycles += 1
        payload = await waiter.apoll(hook, "ASSISTANT")
        now = time.time()
        for event_id in before - set(waiter.pending):
            detected[event_id] = now
        if payload is not None:
            break
        await asyncio.sleep(poll)
    await hook.aclose()
    return cycles

async def singles():
    async def one(event_id):
        trigger = TelnyxScheduledEventTrigger(assistant_id="ASSISTANT", scheduled_event_id=event_id, poll_interval=poll)
        async for _ in trigger.run():
            detected[event_id] = time.time()
    await asyncio.gather(*(one(i) for i in ids))
    return None

cycles = asyncio.run(coalesced() if mode == "coalesced" else singles())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"detected": detected, "cycles": cycles, "rss_kib_base": base, "rss_kib_peak": peak}))
"""


def b2_waiting(n: int = 1000, poll: float = 1.0) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for mode, label in (
        ("coalesced", "ours: coalesced (TelnyxScheduledEventsTrigger)"),
        ("singles", f"{n} single-event triggers in one event loop"),
    ):
        simulator = Simulator(seed=2, time_scale=60, assistants=(ASSISTANT,))
        with simulator.serve_in_thread(), tempfile.TemporaryDirectory() as scratch:
            connect(simulator)
            from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

            hook = TelnyxHook()
            now = datetime.now(timezone.utc)
            ids = [
                # Finishing over about a minute: each second, another 1/60 of the events dispatches.
                hook.create_scheduled_event(ASSISTANT, body(i, now + timedelta(seconds=20 + (i % 60)))).event_id
                for i in range(n)
            ]
            hook.close()
            ids_file = Path(scratch) / "ids.json"
            ids_file.write_text(json.dumps(ids))
            simulator.clear_journal()
            script = WAIT_CLIENT.replace('"ASSISTANT"', repr(ASSISTANT))
            started = time.monotonic()
            out = subprocess.run(
                [sys.executable, "-c", script, mode, str(ids_file), str(poll)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ.copy(),
                timeout=900,
            )
            elapsed = time.monotonic() - started
            data = json.loads(out.stdout.strip().splitlines()[-1])
            finals = {i: simulator.final_at(i) for i in ids}
            # Every event is final by now (the run above waited for all of them).
            latency = [data["detected"][i] - finals[i].timestamp() for i in ids]  # type: ignore[union-attr]
            requests = len(simulator.journal)
            cycles = data["cycles"] or round(requests / n)
            rows[label] = {
                "seconds": round(elapsed, 1),
                "total_requests": requests,
                "polling_cycles": cycles,
                "requests_per_cycle": round(requests / max(cycles, 1), 1),
                "requests_per_100_events_per_cycle": round(100 * requests / max(cycles, 1) / n, 2),
                "detection_latency_median_s": round(statistics.median(latency), 2),
                "detection_latency_p95_s": round(sorted(latency)[int(0.95 * n) - 1], 2),
                "peak_rss_per_waiting_event_kib": round((data["rss_kib_peak"] - data["rss_kib_base"]) / n, 2),
            }
            log(f"B2 {label}: {rows[label]}")
    ours, singles = rows.values()
    ratio = singles["total_requests"] / max(ours["total_requests"], 1)
    return {
        "events": n,
        "poll_interval_s": poll,
        "rows": rows,
        "request_ratio": round(ratio, 1),
        "targets": {
            "at most 1 request per 100 events per cycle": ours["requests_per_100_events_per_cycle"] <= 1.0,
            "at least 20x fewer requests than single-event triggers": ratio >= 20,
        },
    }


# -- B3 DAG-parse cost -----------------------------------------------------------------------------------------

IMPORT_PROBE = """
import time
import airflow.sdk
from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, conf
conf.getboolean("operators", "default_deferrable", fallback=False)
started = time.perf_counter()
{imports}
print((time.perf_counter() - started) * 1000)
"""


def b3_parse_cost(runs: int = 15) -> dict[str, Any]:
    ours = {
        "operators.scheduled_event": "airflow_provider_telnyx.operators.scheduled_event",
        "operators.batch": "airflow_provider_telnyx.operators.batch",
        "operators.delete": "airflow_provider_telnyx.operators.delete",
        "operators.export": "airflow_provider_telnyx.operators.export",
        "sensors.scheduled_event": "airflow_provider_telnyx.sensors.scheduled_event",
        "notifications.telnyx": "airflow_provider_telnyx.notifications.telnyx",
    }
    candidates = {
        "ours: every operator, sensor and the notifier": "import " + ", ".join(ours.values()),
        "dbt Cloud provider: operators + sensors": "import airflow.providers.dbt.cloud.operators.dbt, "
        "airflow.providers.dbt.cloud.sensors.dbt",
        **{f"ours: {label}": f"import {module}" for label, module in ours.items()},
    }
    rows = {}
    for label, imports in candidates.items():
        samples = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(imports=imports)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ.copy(),
            )
            samples.append(float(out.stdout.strip().splitlines()[-1]))
        rows[label] = {
            "median_ms": round(statistics.median(samples), 1),
            "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1),
            "runs": runs,
        }
        log(f"B3 {label}: {rows[label]}")
    everything = rows["ours: every operator, sensor and the notifier"]["median_ms"]
    dbt = rows["dbt Cloud provider: operators + sensors"]["median_ms"]
    each = [row["median_ms"] for label, row in rows.items() if label.startswith("ours: ") and "every" not in label]
    return {
        "rows": rows,
        "lighter_than_dbt_cloud": round(dbt / everything, 1),
        "targets": {
            "each public module at most 40 ms": max(each) <= 40,
            "all of ours at least 7x lighter than dbt Cloud's operators + sensors": dbt >= 7 * everything,
        },
    }


# -- B4 per-request overhead -----------------------------------------------------------------------------------


def b4_overhead(n: int = 2000) -> dict[str, Any]:
    """Sequential GETs of one event, the simulator in its own process (as the API is: its CPU and the GIL are not
    shared with the client being measured). Wall time per request, and the client's own CPU time per request."""
    import httpx
    import telnyx

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.testing.simulator import DEFAULT_API_KEY

    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        port_file = Path(scratch) / "port"
        command = [sys.executable, "-m", "airflow_provider_telnyx.testing.simulator", "--port", "0", "--seed", "4"]
        command += ["--assistant", ASSISTANT, "--port-file", str(port_file), "--rate-limit", "1e9"]  # no throttling
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not port_file.exists() or not port_file.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start")
                time.sleep(0.05)  # waiting for a child process to listen, not timing anything
            base_url = f"http://127.0.0.1:{port_file.read_text().strip()}/v2"
            os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"] = json.dumps(
                {"conn_type": "telnyx", "password": DEFAULT_API_KEY, "host": base_url}
            )
            hook = TelnyxHook()
            event_id = hook.create_scheduled_event(
                ASSISTANT, body(1, datetime.now(timezone.utc) + timedelta(days=1))
            ).event_id
            path = f"/ai/assistants/{ASSISTANT}/scheduled_events/{event_id}"
            raw = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"})
            sdk = telnyx.Telnyx(api_key=DEFAULT_API_KEY, base_url=base_url)
            candidates: dict[str, Callable[[], object]] = {
                "ours: TelnyxHook.get_scheduled_event": lambda: hook.get_scheduled_event(ASSISTANT, event_id),
                "raw httpx.Client + json()": lambda: raw.get(path).json(),
                "official SDK retrieve": lambda: sdk.ai.assistants.scheduled_events.retrieve(
                    event_id, assistant_id=ASSISTANT
                ),
            }
            for call in candidates.values():
                for _ in range(50):
                    call()  # warm up connections and caches
            for _round in range(5):  # interleaved rounds so drift hits every candidate alike
                for label, call in candidates.items():
                    started, cpu = time.perf_counter(), time.process_time()
                    for _ in range(n // 5):
                        call()
                    samples = rows.setdefault(label, {"wall": [], "cpu": []})
                    samples["wall"].append((time.perf_counter() - started) / (n // 5) * 1e6)
                    samples["cpu"].append((time.process_time() - cpu) / (n // 5) * 1e6)
            raw.close()
            hook.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    table = {
        label: {
            "median_us_per_request": round(statistics.median(v["wall"]), 1),
            "client_cpu_us_per_request": round(statistics.median(v["cpu"]), 1),
        }
        for label, v in rows.items()
    }
    ours = table["ours: TelnyxHook.get_scheduled_event"]
    raw_row = table["raw httpx.Client + json()"]
    sdk_us = table["official SDK retrieve"]["median_us_per_request"]
    for label, row in table.items():
        row["ratio_to_raw_httpx"] = round(row["median_us_per_request"] / raw_row["median_us_per_request"], 2)
        row["cpu_ratio_to_raw_httpx"] = round(
            row["client_cpu_us_per_request"] / raw_row["client_cpu_us_per_request"], 2
        )
        log(f"B4 {label}: {row}")
    return {
        "requests": n,
        "rows": table,
        "targets": {
            "within 1.3x of raw httpx": ours["median_us_per_request"] <= 1.3 * raw_row["median_us_per_request"],
            "faster than the SDK": ours["median_us_per_request"] < sdk_us,
        },
    }


# -- B5 mapped tasks vs one batch task -------------------------------------------------------------------------


def b5_mapped_vs_batch(n: int = 200) -> dict[str, Any]:
    dags = ROOT / "benchmarks" / "dags"
    rows = {}
    simulator = Simulator(seed=5, assistants=(ASSISTANT,))
    with simulator.serve_in_thread(), tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_TELNYX_DEFAULT": simulator.connection_json(),
            "BENCH_EVENTS": str(n),
        }
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        for dag_id, label in (("bench_mapped", f"{n} mapped tasks"), ("bench_batch", "one batch task")):
            simulator.reset()
            started = time.monotonic()
            out = subprocess.run(
                [airflow, "dags", "test", dag_id], env=env, capture_output=True, text=True, check=False
            )
            elapsed = time.monotonic() - started
            created = simulator.stats().get("events_created", 0)
            if out.returncode != 0 or created != n:
                raise RuntimeError(f"{dag_id} failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
            rows[label] = {"seconds": round(elapsed, 1), "events_created": created}
            log(f"B5 {label}: {rows[label]}")
    mapped, batch = rows.values()
    return {"events": n, "rows": rows, "wall_time_ratio": round(mapped["seconds"] / batch["seconds"], 1)}


# -- B6 export with transcripts --------------------------------------------------------------------------------

EXPORT_CLIENT = r"""
import json, os, resource, sys, time
from datetime import datetime
mode, dest, start, end, page_size = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
started = time.monotonic()
if mode == "ours":
    from unittest import mock
    from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
    op = TelnyxExportScheduledEventsOperator(
        task_id="b6", assistant_id="ASSISTANT", destination="file://" + dest, from_date=start, to_date=end,
        message_page_size=page_size, progress_interval=60,
    )
    ti = mock.Mock(dag_id="bench", run_id="b6", task_id="b6", map_index=-1)
    summary = op.execute({"ti": ti, "outlet_events": {}})
    rows, requests = summary["rows"], summary["requests"]
    truncated = summary.get("transcripts_truncated", 0)
    exported_bytes = summary["bytes"]
else:
    # What a data engineer writes in a @task with the official SDK: page through the events, page through each
    # conversation's messages, write a JSON line per event.
    import telnyx
    conn = json.loads(os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"])
    client = telnyx.Telnyx(api_key=conn["password"], base_url=conn["host"], max_retries=5)
    rows = requests = truncated = 0
    with open(dest, "w") as out:
        events = client.ai.assistants.scheduled_events.list(
            "ASSISTANT", from_date=datetime.fromisoformat(start), to_date=datetime.fromisoformat(end), page_size=100
        )
        for event in events:
            messages = [
                m.model_dump(mode="json")
                for m in client.ai.conversations.messages.list(event.conversation_id, page_size=page_size)
            ]
            out.write(json.dumps({"event": event.model_dump(mode="json"), "messages": messages}) + "\n")
            rows += 1
            if mode == "sdk" and rows >= int(os.environ["BENCH_SDK_LIMIT"]):
                break
    exported_bytes = os.path.getsize(dest)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": time.monotonic() - started, "rows": rows, "rss_kib_peak": peak, "truncated": truncated,
                  "bytes": exported_bytes}))
"""


def export_in_subprocess(label: str, mode: str, start: str, end: str, page_size: int, sdk_events: int = 0) -> Any:
    """Run one B6 client in its own process (so that its peak RSS is its own) and return what it printed."""
    with tempfile.TemporaryDirectory() as scratch:
        dest = str(Path(scratch) / "events.jsonl")
        script = EXPORT_CLIENT.replace('"ASSISTANT"', repr(ASSISTANT))
        out = subprocess.run(
            [sys.executable, "-c", script, mode, dest, start, end, str(page_size)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "BENCH_SDK_LIMIT": str(sdk_events)},
            timeout=3600,
        )
    if out.returncode != 0:
        raise RuntimeError(f"B6 {label} failed: {out.stdout[-2000:]}{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


#: The message of a long conversation, about 110 bytes of JSON like a real one.
def long_message(i: int, day: datetime) -> dict[str, Any]:
    at = (day + timedelta(hours=1, milliseconds=100 * i)).isoformat().replace("+00:00", "Z")
    return {
        "role": "user" if i % 2 else "assistant",
        "text": f"Message {i}: yes, that works.",
        "sent_at": at,
        "created_at": at,
    }


def b6_long_transcript(messages: int = 100_000, latency: float = 0.05) -> dict[str, Any]:
    """Peak RSS of exporting one conversation of ``messages`` messages, next to one ordinary call (7 messages):
    each export runs in its own process; pages of 100 messages at ``latency`` s each."""
    day = (datetime.now(timezone.utc) - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    simulator = Simulator(seed=6, assistants=(ASSISTANT,))
    simulator.seed_event(ASSISTANT, body(0, (day + timedelta(hours=12)).isoformat()))
    long = simulator.seed_event(ASSISTANT, body(1, (day + timedelta(hours=36)).isoformat()))
    simulator.script_transcript(long, count=messages, message=lambda i: long_message(i, day))
    simulator.set_faults(latency=latency)
    rows: dict[str, Any] = {}
    with simulator.serve_in_thread():
        connect(simulator)
        for label, first_day in (
            ("ours: one ordinary call (7 messages)", day),
            (f"ours: one conversation of {messages:,} messages", day + timedelta(days=1)),
        ):
            simulator.clear_journal()
            start, end = first_day.isoformat(), (first_day + timedelta(days=1)).isoformat()
            data = export_in_subprocess(label, "ours", start, end, 100)
            rows[label] = {
                "requests": len(simulator.journal),
                "seconds": round(data["seconds"], 1),
                "peak_rss_mib": round(data["rss_kib_peak"] / 1024, 1),
                "file_mib": round(data["bytes"] / 2**20, 2),
                "transcripts_truncated": data["truncated"],
            }
            log(f"B6 {label}: {rows[label]}")
    return rows


def b6_export(n: int = 10_000, limit: int = 100, latency: float = 0.05, sdk_events: int = 1_000) -> dict[str, Any]:
    """Export n events with transcripts (7 messages in pages of 3: 3 pages each) at limit req/s, latency s."""
    rows: dict[str, Any] = {}
    day = (datetime.now(timezone.utc) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
    runs = (
        ("ours", n, f"ours: TelnyxExportScheduledEventsOperator, {n:,} events"),
        ("ours", n // 10, f"ours: TelnyxExportScheduledEventsOperator, {n // 10:,} events"),
        ("sdk", sdk_events, f"official SDK loop writing JSON Lines, first {sdk_events:,} of the {n:,} events"),
    )
    for mode, count, label in runs:
        simulator = Simulator(seed=6, assistants=(ASSISTANT,))
        for i in range(count):
            simulator.seed_event(
                ASSISTANT,
                {**body(i, (day + timedelta(seconds=i * 86_000 / count)).isoformat())},
            )
        simulator.set_faults(latency=latency, rate_limit=limit)
        with simulator.serve_in_thread():
            connect(simulator)
            data = export_in_subprocess(label, mode, start, end, 3, sdk_events)
            journal = simulator.journal
            requests = len(journal)
            throttled = sum(e.status == 429 for e in journal)
            lower_bound = requests / limit
            rows[label] = {
                "events": data["rows"],
                "requests": requests,
                "seconds": round(data["seconds"], 1),
                "lower_bound_s": round(lower_bound, 1),
                "share_of_lower_bound": round(lower_bound / data["seconds"], 3),
                "requests_429": throttled,
                "peak_rss_mib": round(data["rss_kib_peak"] / 1024, 1),
                "projected_seconds_for_10k": round(data["seconds"] * n / max(data["rows"], 1)),
            }
            log(f"B6 {label}: {rows[label]}")
    ours_big, ours_small, sdk = rows.values()
    long = b6_long_transcript(latency=latency)
    ordinary, longest = long.values()
    return {
        "events": n,
        "limit_per_second": limit,
        "latency_ms": latency * 1000,
        "rows": rows,
        "long_transcript": long,
        "targets": {
            "ours at least 85% of the request-count lower bound": ours_big["share_of_lower_bound"] >= 0.85,
            "ours flat memory (10x the events, under 1.25x the peak RSS)": ours_big["peak_rss_mib"]
            <= 1.25 * ours_small["peak_rss_mib"],
            "ours faster than the SDK loop (projected to the same events)": ours_big["seconds"]
            < sdk["projected_seconds_for_10k"],
            "ours flat memory for one 100,000-message conversation (capped; under 1.5x an ordinary call's peak RSS)": (
                longest["peak_rss_mib"] <= 1.5 * ordinary["peak_rss_mib"]
            ),
        },
    }


# -- report ----------------------------------------------------------------------------------------------------


def plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    STATIC.mkdir(parents=True, exist_ok=True)

    def bars(name: str, title: str, rows: dict[str, Any], key: str, unit: str, log_scale: bool = False) -> None:
        labels = [label.replace(": ", ":\n").replace(", ", ",\n") for label in rows]
        values = [row[key] for row in rows.values()]
        fig, ax = plt.subplots(figsize=(7, max(3.2, 1.2 + 0.5 * len(values))))
        colours = ["#00a37a" if label.startswith("ours") else "#9aa5b1" for label in rows]
        ax.barh(labels[::-1], values[::-1], color=colours[::-1])
        if log_scale:
            ax.set_xscale("log")
            ax.set_xlim(min(values) / 3, max(values) * 3)  # every bar visible, room for the longest one's label
        else:
            ax.set_xlim(0, max(values) * 1.15)
        ax.set_xlabel(unit)
        ax.set_title(title, fontsize=10)
        for index, value in enumerate(values[::-1]):
            ax.text(value, index, f" {value:g}", va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(STATIC / f"{name}.png", dpi=110)
        plt.close(fig)

    if "B1" in results:
        plot_b1(results["B1"]["rows"], plt)
    if "B2" in results:
        bars(
            "bench_b2",
            "B2: 1,000 waiting events (total requests)",
            results["B2"]["rows"],
            "total_requests",
            "requests (log)",
            log_scale=True,
        )
    if "B3" in results:
        bars("bench_b3", "B3: import cost after airflow.sdk", results["B3"]["rows"], "median_ms", "ms")
    if "B4" in results:
        bars(
            "bench_b4",
            "B4: per-request time, zero-latency GET",
            results["B4"]["rows"],
            "median_us_per_request",
            "microseconds",
        )
    if "B6" in results:
        b6 = results["B6"]

        def short(label: str) -> str:  # the page's labels, shortened so that the axes leave the title its width
            return label.replace("ours: one ", "one ")

        def measured(label: str, row: dict[str, Any]) -> str:  # what each bar is: a whole run, or 1,000 events x 10
            who = "SDK loop" if label.startswith("official SDK") else "ours"
            return f"{who}, measured" if row["events"] >= 10_000 else f"{who}, 1,000 events x 10"

        ours_first = sorted(b6["rows"].items(), key=lambda item: (not item[0].startswith("ours"), -item[1]["events"]))
        times = {measured(label, row): row for label, row in ours_first}
        bars("bench_b6", "B6: seconds for 10,000 events", times, "projected_seconds_for_10k", "seconds")
        if "long_transcript" in b6:
            memory = {short(label): row for label, row in reversed(b6["long_transcript"].items())}
            bars("bench_b6_memory", "B6: peak RSS of one export", memory, "peak_rss_mib", "MiB")
    if "B5" in results:
        bars(
            "bench_b5",
            "B5: 200 events, mapped vs batch (dag.test wall time)",
            results["B5"]["rows"],
            "seconds",
            "seconds",
        )


def plot_b1(rows: dict[str, Any], plt: Any) -> None:
    """Ours and the peer side by side per server model: the steady-state share of the limit (the whole run's for a
    batch too short to have a steady state). Every label has its own line; the legend sits outside the bars."""
    models = list(dict.fromkeys(label.split(": ", 1)[0] for label in rows))
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(models) + 1.4))
    clients = [(c, colour) for c, colour in (("ours", "#00a37a"), (PEER, "#9aa5b1")) if f"{models[0]}: {c}" in rows]
    height = 0.8 / len(clients)
    for offset, (client, colour) in enumerate(clients):
        values = []
        for model in models:
            row = rows.get(f"{model}: {client}", {})
            values.append(row.get("steady_share_of_limit") or row.get("share_of_limit") or 0)
        positions = [index + (offset - (len(clients) - 1) / 2) * height for index in range(len(models))]
        ax.barh(positions, values, height=height * 0.95, color=colour, label=client.replace(", a", ",\na"))
        for position, value in zip(positions, values, strict=True):
            ax.text(value + 0.01, position, f"{value:.3f}", va="center", fontsize=7)
    names = [model + ("\n(whole run: too short for a steady state)" if "items" in model else "") for model in models]
    ax.set_yticks(range(len(models)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.9, color="#c0392b", linestyle="--", linewidth=0.8, label="target: 90% of the limit")
    ax.set_xlim(0, 1.2)
    ax.set_xlabel("requests admitted per second, as a share of the limit")
    ax.set_title("B1: batch create, share of the rate limit used, per server model", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.savefig(STATIC / "bench_b1.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


#: What a missed target means, when we know (shown under it on the page).
WHY_MISSED = {
    "ours not slower than the peer where the API announces the limit (headers always)": "the peer's `aiolimiter` "
    "starts with a full bucket and sends 95 requests at once, which a token bucket that also starts full admits; "
    "ours paces evenly from the first request (a burst is refused by a fixed window or a bucket that starts "
    "empty). Steady state is the same (see the steady share column); the gap is that first second.",
}


def run_dates(meta: dict[str, Any]) -> str:
    """When each benchmark last ran: one date when ``make bench`` ran them all, else each date with its benchmarks
    (``benchmarks/run.py B1 B5`` runs those again and keeps the others' figures)."""
    ran_at: dict[str, str] = meta.get("ran_at") or {}
    dates = sorted(set(ran_at.values()), reverse=True)
    if len(dates) <= 1:
        return str(meta["when"])
    return "; ".join(f"{', '.join(k for k in sorted(ran_at) if ran_at[k] == d)} on {d}" for d in dates)


def page(results: dict[str, Any]) -> str:
    meta = results["_meta"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`benchmarks/run.py`); do not edit by hand. Every benchmark runs our path and its "
        "alternatives side by side in one run against the embedded simulator on loopback, so ratios are what to "
        "read: absolute times drift on a shared machine.",
        "",
        f"Run: {run_dates(meta)}, Python {meta['python']}, {meta['cores']} cores, {meta['seconds']:.0f} s "
        + ("in all." if len(set((meta.get("ran_at") or {}).values())) <= 1 else "for the latest."),
        "",
    ]
    descriptions = {
        "B1": "Batch create: 2,000 phone-call events per run; simulator latency 50 ms per request, rate limit "
        "100 requests/s, on eight server models: a fixed one-second window or a token bucket, with `x-ratelimit-*` "
        "headers on every answer, only on 429s, or never; a fixed ten-second window of 1,000 requests (the API does "
        "not publish its window's length); and a 600-event batch on the bucket that announces its limit only in "
        "429s, where the ramp to the limit weighs most. Ours learns the limit and the window from what the API says "
        "(or from 429s alone); the peer is told the limit per second in advance. Steady state: from 10 s after the "
        "first request to 1 s before the last.",
        "B2": "Waiting at scale: 1,000 pending events finishing over about a minute of simulated time, polled every "
        "second; each waiter runs in its own process so its memory can be measured.",
        "B3": "DAG-parse cost: time added by importing the operator and sensor modules once `airflow.sdk`, `DAG`, "
        "`BaseOperator` and `BaseSensorOperator` are imported (what every DAG file already pays); median of fresh "
        "interpreters.",
        "B4": "Per-request overhead: sequential GETs of one event against a zero-latency simulator running in its own "
        "process (as the API does: its CPU and the GIL are not the client's); wall time and the client's own CPU time "
        "per request, median of five interleaved rounds. Every guard of ours is on: the overall deadline (enforced "
        "at each socket operation), the body-size limit, the redaction of every answer, retries and rate-limit "
        "observation.",
        "B5": "Mapped tasks vs one batch task: 200 events under `airflow dags test`.",
        "B6": "Export with transcripts: the events of one day (already completed, 7 messages each, read in pages of 3: "
        "3 message requests per event, plus one listing request per 100 events) written as JSON Lines, at a rate "
        "limit of 100 requests/s with 50 ms latency. The lower bound is requests / rate. The SDK loop (events "
        "auto-paged, each conversation's messages auto-paged, one JSON line per event) is measured on its first "
        "1,000 events and projected linearly; each client runs in its own process so its peak RSS is its own.",
    }
    for key in ("B1", "B2", "B3", "B4", "B5", "B6"):
        if key not in results:
            continue
        result = results[key]
        lines += [f"## {key}", "", descriptions[key], ""]
        rows = result["rows"]
        columns = list(next(iter(rows.values())))
        lines.append("| | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
        lines.append("|---" * (len(columns) + 1) + "|")
        for label, row in rows.items():
            lines.append(f"| {label} | " + " | ".join(str(row[c]) for c in columns) + " |")
        lines.append("")
        for extra in ("request_ratio", "wall_time_ratio"):
            if extra in result:
                lines += [f"{extra.replace('_', ' ').capitalize()}: **{result[extra]}x**.", ""]
        if key == "B6" and "long_transcript" in result:
            long = result["long_transcript"]
            lines += [
                "One very long conversation: 100,000 messages in pages of 100 (50 ms each), exported alone in its "
                "own process, next to one ordinary call. The transcript stops at the cap (10,000 messages or 10 MB, "
                "`transcript_truncated`) and no page past it is asked for, so memory stays flat however long the "
                "conversation is.",
                "",
            ]
            names = list(next(iter(long.values())))
            lines.append("| | " + " | ".join(c.replace("_", " ") for c in names) + " |")
            lines.append("|---" * (len(names) + 1) + "|")
            lines += [f"| {label} | " + " | ".join(str(row[c]) for c in names) + " |" for label, row in long.items()]
            lines += ["", "![B6 memory](_static/bench_b6_memory.png)", ""]
        for target, met in result.get("targets", {}).items():
            lines.append(f"- target {target}: **{'met' if met else 'MISSED'}**")
            if not met and target in WHY_MISSED:
                lines.append(f"  - why: {WHY_MISSED[target]}")
        lines += ["", f"![{key}](_static/bench_{key.lower()}.png)", ""]
    return "\n".join(lines)


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "B1": b1_batch_create,
    "B2": b2_waiting,
    "B3": b3_parse_cost,
    "B4": b4_overhead,
    "B5": b5_mapped_vs_batch,
    "B6": b6_export,
}


def main(argv: list[str]) -> None:
    if argv == ["--page"]:  # plots and page again from results.json, nothing measured
        saved = json.loads(RESULTS.read_text())
        plot(saved)
        PAGE.write_text(page(saved))
        return
    chosen = argv or list(BENCHMARKS)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() and argv else {}
    started = time.monotonic()
    for key in chosen:
        log(f"running {key}")
        results[key] = BENCHMARKS[key]()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    previous = results.get("_meta", {})
    ran_at = {key: previous.get("ran_at", {}).get(key, previous.get("when")) for key in BENCHMARKS if key in results}
    ran_at.update(dict.fromkeys(chosen, when))
    results["_meta"] = {
        "when": when,
        "ran_at": ran_at,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "seconds": time.monotonic() - started,
    }
    # In the order measured (rows and columns of the page follow it), also for benchmarks kept from an earlier run.
    RESULTS.write_text(json.dumps(results, indent=2))
    plot(results)
    PAGE.write_text(page(results))
    log(f"wrote {RESULTS.relative_to(ROOT)}, {PAGE.relative_to(ROOT)} and plots in {STATIC.relative_to(ROOT)}")


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    main(sys.argv[1:])
