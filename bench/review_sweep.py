"""The review sweep at scale: N cases of which 1,000 are due. How long claiming the due
reviews and queueing their prompts takes, and how that grows with the total number of
cases (it should follow the number due, not the total)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from bench.common import deps_for, table, temp_dir
from bot.clock import FrozenClock
from bot.reviews.sweeps import BATCH, fire_due_reviews
from devtools.standin import StandInSlack
from storage.cases import Case, CaseMember
from storage.db import session_scope
from storage.reviews import ReviewSchedule

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


def _seed(deps, total: int, due: int, chunk: int = 10_000) -> None:
    """Cases with one member and a weekly schedule; `due` of them spread evenly are due."""
    label = deps.cipher.encrypt("Bench Case")
    step = max(1, total // due)
    with session_scope(deps.engine) as session:
        for start in range(0, total, chunk):
            ids = range(start + 1, min(total, start + chunk) + 1)
            session.execute(
                insert(Case),
                [
                    {
                        "id": i,
                        "team_id": "T0",
                        "label_enc": label,
                        "status": "open",
                        "home_channel": "C0BENCH",
                        "created_by": "U0BENCH",
                        "created_at": NOW - timedelta(days=30),
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(CaseMember),
                [
                    {
                        "case_id": i,
                        "user_id": f"U{i:08d}",
                        "role": "therapist",
                        "added_by": "U0BENCH",
                        "added_at": NOW,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(ReviewSchedule),
                [
                    {
                        "case_id": i,
                        "every": 2,
                        "period": "weeks",
                        "weekday": None,
                        "at_local": "09:00",
                        "tz": "America/New_York",
                        "active": True,
                        "set_by": "U0BENCH",
                        "updated_at": NOW,
                        "next_due_at": NOW - timedelta(hours=1)
                        if i % step == 0 and i // step <= due
                        else NOW + timedelta(days=1 + i % 13),
                    }
                    for i in ids
                ],
            )
        if deps.engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
    if deps.engine.dialect.name == "sqlite":
        # The seeding's own writes, still in the WAL, are copied into the database file now,
        # not by the first commit of the sweep being measured (0.15 s at 100,000 cases).
        raw = deps.engine.raw_connection()  # outside a transaction, which a checkpoint needs
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def _one(total: int, due: int) -> list[object]:
    slack = StandInSlack().serve()
    tmp = temp_dir()
    deps, engine = deps_for(tmp, slack, clock=FrozenClock(NOW))
    try:
        started = time.perf_counter()
        _seed(deps, total, due)
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        fired = fire_due_reviews(deps)
        took = time.perf_counter() - started
        started = time.perf_counter()
        idle = fire_due_reviews(deps)  # a sweep with nothing due: the cost every minute
        idle_took = time.perf_counter() - started
    finally:
        slack.close()
        engine.dispose()
    assert fired == due and idle == 0, (fired, idle)
    return [total, fired, took, took / fired * 1000, idle_took * 1000, seeded]


def run(totals: tuple[int, ...] = (10_000, 100_000), due: int = 1_000) -> str:
    rows = [_one(total, due) for total in totals]
    return table(
        f"Review sweep: claim {due:,} due reviews and queue their prompts (one sweep, batches of {BATCH})",
        ["cases", "due fired", "sweep s", "ms per review", "empty sweep ms", "seeding s"],
        rows,
    )


if __name__ == "__main__":
    print(run())
