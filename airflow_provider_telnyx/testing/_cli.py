"""``telnyx-simulator``: serve the simulator from the command line until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading

from airflow_provider_telnyx.testing._limits import Faults
from airflow_provider_telnyx.testing.simulator import DEFAULT_API_KEY, DEFAULT_ASSISTANTS, Simulator

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the simulator until interrupted.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="telnyx-simulator", description="An embedded simulator of the Telnyx API.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--api-key", action="append", help=f"accepted API key (repeatable; default {DEFAULT_API_KEY})")
    parser.add_argument(
        "--assistant", action="append", help=f"an assistant that exists (repeatable; default {DEFAULT_ASSISTANTS})"
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help="event clock speed after dispatch")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per API key")
    parser.add_argument("--rate-limit-window", choices=["fixed", "token_bucket"], default="fixed")
    parser.add_argument("--rate-limit-headers", choices=["always", "on_429", "never"], default="always")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share of requests that hang")
    parser.add_argument("--lose-create-rate", type=float, default=0.0, help="share of create responses lost")
    parser.add_argument("--port-file", default=None, help="write the bound port to this file once listening")
    args = parser.parse_args(argv)
    faults = Faults(
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        rate_limit_headers=args.rate_limit_headers,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        lose_create_rate=args.lose_create_rate,
    )
    simulator = Simulator(
        api_keys=tuple(args.api_key or (DEFAULT_API_KEY,)),
        assistants=tuple(args.assistant or DEFAULT_ASSISTANTS),
        time_scale=args.time_scale,
        faults=faults,
        seed=args.seed,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with simulator.serve_in_thread(args.host, args.port) as base_url:
        if args.port_file:
            with open(args.port_file, "w", encoding="utf-8") as handle:
                handle.write(base_url.rsplit(":", 1)[1].split("/")[0])
        print(f"Telnyx simulator listening on {base_url} (time scale {args.time_scale:g})", flush=True)  # noqa: T201
        stop.wait()


if __name__ == "__main__":
    main()
