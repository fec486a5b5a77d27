"""`make bench`: every benchmark, one after the other, each printing its table.

Run on a quiet machine: the numbers are only comparable within one run. Set
BENCH_DATABASE_URL to measure on PostgreSQL instead of a SQLite file; BENCH_ONLY to a
comma-separated subset (ack, sweep, audit, delivery, work); BENCH_AUDIT_EVENTS to resize the chain,
BENCH_WORK_REQUESTS the worker-cost rounds.
"""

from __future__ import annotations

import os
import platform
import sys
import time

from bench import ack_latency, audit_chain, delivery, review_sweep, work_cost
from bench.common import drop_schemas

BENCHMARKS = {
    "ack": lambda: ack_latency.run(),
    "sweep": lambda: review_sweep.run(),
    "audit": lambda: audit_chain.run(int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))),
    "delivery": lambda: delivery.run(),
    "work": lambda: work_cost.run(int(os.environ.get("BENCH_WORK_REQUESTS", "500"))),
}


def main() -> int:
    chosen = [
        name.strip() for name in os.environ.get("BENCH_ONLY", ",".join(BENCHMARKS)).split(",") if name.strip()
    ]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    print(
        f"CareThread benchmarks on {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()},"
        f" database {os.environ.get('BENCH_DATABASE_URL') or 'SQLite (temporary file)'}"
    )
    try:
        for name in chosen:
            started = time.monotonic()
            print(BENCHMARKS[name](), flush=True)
            print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    finally:
        drop_schemas()
    return 0


if __name__ == "__main__":
    sys.exit(main())
