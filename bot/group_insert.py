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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from storage import inbox as rows

MAX_BATCH = 100


class Replayed(Exception):
    """The row's signature hash is already in the inbox."""


@dataclass(eq=False)
class _Entry:
    row: dict[str, Any]
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
        entry = _Entry(row)
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
        try:
            with self.engine.begin() as connection:
                for entry in batch:
                    inserted = connection.execute(self._statement, entry.row).first()
                    if inserted is None:
                        entry.error = Replayed()
                    else:
                        entry.row_id = inserted[0]
        except Exception as exc:  # nothing of the batch was committed
            for entry in batch:
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
