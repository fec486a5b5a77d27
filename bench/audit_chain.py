"""Audit chain: how fast events are appended (one per transaction, as requests do, and in
batches), and how fast a chain of 1,000,000 events is verified (in one process, and as
`python -m bot.audit verify` does it, split between processes), next to the raw
HMAC-SHA256 rate of one core of the same machine over the same canonical content."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from bench.common import bench_database_url, table, temp_dir
from bot import auditlog
from bot.audit.verify import PARALLEL_FROM, verify_in_parallel
from bot.auditlog import GENESIS_HASH, Outcome, PendingEvent, Source
from storage import migrate
from storage.core import AuditEvent, AuditHead
from storage.db import make_engine, session_scope, snapshot_scope
from storage.types import table_of

KEY = b"bench-audit-key-0123456789"


def _pending(i: int) -> PendingEvent:
    return PendingEvent(
        at=datetime(2026, 11, 23, tzinfo=UTC) + timedelta(seconds=i),
        actor="U0BENCH",
        action="case.viewed",
        outcome=Outcome.OK,
        source=Source.COMMAND,
        case_id=i % 1000,
        target=f"C-{i % 1000}",
        correlation_id=f"{i}.trigger",
        details={"n": i},
    )


def _append_rate(engine, events: int, per_transaction: int) -> float:
    started = time.perf_counter()
    for start in range(0, events, per_transaction):
        with session_scope(engine) as session:
            auditlog.append(session, KEY, [_pending(start + i) for i in range(per_transaction)])
    return events / (time.perf_counter() - started)


def _build_chain(engine, total: int, chunk: int = 20_000) -> None:
    """Write a valid chain quickly: auditlog.chain() numbers and hashes the rows as append()
    does, and a Core bulk insert stores them."""
    prev, seq = GENESIS_HASH, 0
    columns = [c.name for c in table_of(AuditEvent).columns]
    with session_scope(engine) as session:
        for start in range(0, total, chunk):
            pending = [_pending(i) for i in range(start, min(total, start + chunk))]
            rows = auditlog.chain(KEY, pending, after_seq=seq, after_hash=prev)
            seq, prev = rows[-1].seq, rows[-1].hash
            session.execute(insert(AuditEvent), [{c: getattr(row, c) for c in columns} for row in rows])
        head = session.get(AuditHead, 1)
        if head is None:
            raise RuntimeError("the audit_head row is missing: were the migrations applied?")
        head.seq, head.hash = seq, prev


def _raw_hmac_rate(n: int = 300_000) -> tuple[float, int]:
    message = json.dumps(
        {
            "seq": 123456,
            "at": "2026-11-23T00:00:00.000000+00:00",
            "actor": "U0BENCH",
            "action": "case.viewed",
            "case_id": 456,
            "target": "C-456",
            "outcome": "ok",
            "source": "command",
            "correlation_id": "123456.trigger",
            "details": '{"n":123456}',
            "team_id": None,
            "prev_hash": "0" * 64,
        },
        sort_keys=True,
    ).encode()
    started = time.perf_counter()
    for _ in range(n):
        hmac.new(KEY, message, hashlib.sha256).hexdigest()
    return n / (time.perf_counter() - started), len(message)


def run(total: int = 1_000_000) -> str:
    tmp = temp_dir()
    engine = make_engine(bench_database_url(tmp))
    migrate.upgrade(engine)
    rows: list[list[object]] = [
        ["append, 1 event per transaction", _append_rate(engine, 2_000, 1), ""],
        ["append, 100 events per transaction", _append_rate(engine, 20_000, 100), ""],
    ]
    engine.dispose()
    engine = make_engine(bench_database_url(temp_dir()))  # an empty chain (the log is append-only)
    migrate.upgrade(engine)
    started = time.perf_counter()
    _build_chain(engine, total)
    build_seconds = time.perf_counter() - started
    raw_before, size = _raw_hmac_rate()
    started = time.perf_counter()
    with snapshot_scope(engine) as session:
        result = auditlog.verify(session, KEY)
    one_seconds = time.perf_counter() - started
    assert result.ok and result.checked == total, result
    started = time.perf_counter()
    with snapshot_scope(engine) as session:  # what `python -m bot.audit verify` runs
        split = verify_in_parallel(engine.url.render_as_string(hide_password=False), KEY, session)
    split_seconds = time.perf_counter() - started
    assert split.ok and split.checked == total, split
    raw_after, _ = _raw_hmac_rate()
    # The machine is shared: the raw rate is measured before and after, and the mean is used.
    raw_rate = (raw_before + raw_after) / 2
    one_rate, split_rate = total / one_seconds, total / split_seconds
    workers = os.cpu_count() if total >= PARALLEL_FROM else 1
    rows += [
        [f"verify {total:,} events, one process (read + re-hash)", one_rate, f"{one_rate / raw_rate:.0%}"],
        [
            f"verify {total:,} events, `verify` ({workers} process(es))",
            split_rate,
            f"{split_rate / raw_rate:.0%}",
        ],
        [f"raw HMAC-SHA256 of a {size}-byte canonical event, one core", raw_rate, "100%"],
    ]
    engine.dispose()
    return table(
        f"Audit chain on {engine.dialect.name} (chain of {total:,} built in {build_seconds:.0f} s; "
        f"verified in {one_seconds:.1f} s in one process, {split_seconds:.1f} s by `verify`; raw HMAC "
        f"{raw_before:,.0f}/s before, {raw_after:,.0f}/s after)",
        ["operation", "events/s", "of raw HMAC"],
        rows,
    )


if __name__ == "__main__":
    print(run())
