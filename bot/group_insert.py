"""Group commit for the inbox: acks that arrive together share one write transaction.

On SQLite every write takes the one database-wide lock, so an ack that waited behind fifteen
others paid for fifteen transactions (begin, commit, the lock handed on, and the work
process's transactions in between) before its own. Here the first thread to arrive writes
every row waiting at that moment in one transaction and the others wait for it; then the
first of those that arrived meanwhile writes the next batch. Each thread gets its own row's
outcome: its id, `Replayed` (the row's unique signature was already saved: each insert is
`ON CONFLICT DO NOTHING`, so one replay does not fail the others), or the database's error,
which fails the whole batch because none of it was committed. On PostgreSQL it saves a
commit (a WAL flush) per request as well.

Each save is over within SAVE_SECONDS of its call, well inside the 3 s Slack waits for the
answer: saved, or failed with nothing saved (storage/db.py `begin_by` bounds every wait of
the transaction and rolls it back rather than commit late), so that the person is told it
was not saved (bot/inbox.py `_not_saved`) instead of getting Slack's own error, and a
request they were told failed is never saved afterwards. A batch is written by the
deadline of the oldest request in it; one whose own deadline passed while it waited for
the batch before fails without being written.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from storage import inbox as rows
from storage.db import DeadlinePassed, begin_by

MAX_BATCH = 100
# The ack path's save: done or failed within this many seconds. Slack waits 3 s for the
# answer, which must still be made and cross the network; the checks before the save
# (signature, parsing) take milliseconds.
SAVE_SECONDS = 2.0


class Replayed(Exception):
    """The row's signature hash is already in the inbox."""


@dataclass(eq=False)
class _Entry:
    row: dict[str, Any]
    deadline: float  # time.monotonic()
    done: threading.Event = field(default_factory=threading.Event)
    row_id: int | None = None
    error: BaseException | None = None
    lead: bool = False


class GroupInsert:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._statement = rows.insert_unless_seen(engine.dialect.name)
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._leading = False

    def save(self, row: dict[str, Any]) -> int:
        """Insert `row` (with whatever else is waiting); its id once committed."""
        entry = _Entry(row, time.monotonic() + SAVE_SECONDS)
        with self._lock:
            self._queue.append(entry)
            if not self._leading:
                self._leading = entry.lead = True
        if not entry.lead:
            entry.done.wait()
        if entry.lead:  # first to arrive, or made the next leader while waiting
            self._write_batch()
        if entry.error is not None:
            raise entry.error
        assert entry.row_id is not None
        return entry.row_id

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        now = time.monotonic()
        for entry in batch:
            if entry.deadline <= now:  # waited out its time behind the batch before
                entry.error = DeadlinePassed("no time left to save the request")
        live = [entry for entry in batch if entry.error is None]
        try:
            if not live:
                return
            deadline = min(entry.deadline for entry in live)
            with begin_by(self.engine, deadline) as connection:
                for entry in live:
                    if time.monotonic() >= deadline:
                        raise DeadlinePassed("the batch's deadline passed while it was written")
                    inserted = connection.execute(self._statement, entry.row).first()
                    if inserted is None:
                        entry.error = Replayed()
                    else:
                        entry.row_id = inserted[0]
        except Exception as exc:  # nothing of the batch was committed
            for entry in live:
                entry.row_id, entry.error = None, exc
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._leading = False
            for entry in batch:
                entry.done.set()
