"""Tables of the audit-trail workflow: the case-thread transcript, and the indexes the
thread capture and the `/audit` timeline query by.

The audit events themselves live in `audit_events` (storage/models.py); they hold no
clinical text. What people wrote in a case thread is clinical, so it lives here,
encrypted, and can be purged after the retention period while the events stay.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.models import AuditEvent, OutboxMessage
from storage.types import UTCDateTime


class EntryKind(StrEnum):
    POSTED = "posted"
    FILE_SHARED = "file_shared"
    EDITED = "edited"
    DELETED = "deleted"


class ThreadEntry(SQLModel, table=True):
    """One thing that happened to a human message in a case thread: posted (with or
    without files), edited (the new text; earlier versions stay in earlier rows) or
    deleted. Text and file names are Fernet tokens; `purged_at` says retention removed them."""

    __tablename__ = "thread_entries"
    __table_args__ = (
        Index("ix_thread_entries_case_order", "case_id", "id"),
        Index("ix_thread_entries_retention", "purged_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)  # the message's own ts (what an edit or deletion refers to)
    thread_ts: str = Field(max_length=32)  # the case card's ts
    user_id: str = Field(max_length=32)  # the message's author
    event_id: str | None = Field(default=None, max_length=191)  # = the audit event's correlation_id
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it happened in Slack
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    text_enc: str | None = Field(default=None, sa_type=Text)
    files_enc: str | None = Field(default=None, sa_type=Text)  # JSON list of file facts, encrypted
    file_count: int = Field(default=0)
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


# A message event names its thread by (channel, thread_ts); the case card is the outbox row
# whose result is that pair. Declared here, on the foundation's tables, because this
# workflow is the one that looks messages up this way (once per message in any channel).
Index("ix_outbox_result", OutboxMessage.__table__.c.result_channel, OutboxMessage.__table__.c.result_ts)
# The `/audit` timeline: one case's events, newest first, a page at a time.
Index("ix_audit_events_case_seq", AuditEvent.__table__.c.case_id, AuditEvent.__table__.c.seq)
