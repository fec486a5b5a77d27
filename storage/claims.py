"""Claiming due work so it fires once across threads, restarts and replicas.

A sweep selects due rows through `lock_due` and, in the same transaction, moves each one
to its next state (advances a due time, records the step fired) together with the audit
events and outbox messages the step produces. On PostgreSQL the rows are locked with
`FOR UPDATE SKIP LOCKED`, so a concurrent sweep on another replica skips them and, once
this one commits, no longer finds them due. On SQLite every transaction begins with
BEGIN IMMEDIATE (storage/db.py), so sweeps are serialized outright.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlmodel import Session


def lock_due(session: Session, query: Select, *, limit: int = 500) -> list[Any]:
    bind = session.get_bind()
    query = query.limit(limit)
    if bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())
