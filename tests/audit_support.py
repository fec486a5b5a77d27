"""Helpers shared by the audit-trail tests: cases, thread events shaped like Slack's, and
reading the audit log and transcript back."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from storage.audit import ThreadEntry
from storage.cases import Case
from storage.core import AuditEvent, OutboxMessage
from storage.db import session_scope

ALICE, BOB, CAROL, MALLORY, ADMIN = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY", "U0ADMIN"
CHANNEL = "C0CARE"
_ts = itertools.count(1)


def db(harness):
    return session_scope(harness.engine)


def create_case(harness, label: str = "Blue Heron", user: str = ALICE, role: str = "prescriber") -> int:
    harness.command(user, f"create {label} as {role}")
    with db(harness) as session:
        return session.execute(select(Case.id).order_by(Case.id.desc())).scalars().first()


def card_ts(harness, case_id: int) -> str:
    with db(harness) as session:
        case = session.get(Case, case_id)
        return session.get(OutboxMessage, case.card_outbox_id).result_ts


def next_ts(base: float = 1_790_000_000) -> str:
    """A message ts (seconds since the epoch, Slack's format)."""
    return f"{base + next(_ts):.6f}"


def reply(thread_ts: str, user: str, text: str, *, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts or next_ts(),
        "thread_ts": thread_ts,
        "event_ts": ts or next_ts(),
        **extra,
    }


def edit(original: dict[str, Any], text: str) -> dict[str, Any]:
    edited_ts = next_ts()
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "hidden": True,
        "message": {**original, "text": text, "edited": {"user": original["user"], "ts": edited_ts}},
        "previous_message": original,
        "ts": edited_ts,
        "event_ts": edited_ts,
    }


def delete(original: dict[str, Any]) -> dict[str, Any]:
    at = next_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": CHANNEL,
        "hidden": True,
        "deleted_ts": original["ts"],
        "previous_message": original,
        "ts": at,
        "event_ts": at,
    }


def file_share(thread_ts: str, user: str, text: str, name: str) -> dict[str, Any]:
    return reply(
        thread_ts,
        user,
        text,
        subtype="file_share",
        files=[{"id": f"F{next(_ts):06d}", "name": name, "mimetype": "application/pdf", "size": 1234}],
    )


def audit_events(harness, **where: Any) -> list[AuditEvent]:
    with db(harness) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list(session.execute(query).scalars())


def actions(harness, **where: Any) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in audit_events(harness, **where)]


def entries(harness, case_id: int | None = None) -> list[ThreadEntry]:
    with db(harness) as session:
        query = select(ThreadEntry).order_by(ThreadEntry.id)
        if case_id is not None:
            query = query.where(ThreadEntry.case_id == case_id)
        return list(session.execute(query).scalars())
