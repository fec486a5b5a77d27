"""The case-thread transcript: what people write under a case card, kept encrypted with an
audit event per message, edit, deletion and file share, and purged after retention.

Slack delivers thread messages as `message` events. Bolt runs only the first listener that
matches a request, so there is exactly one `message` listener (handlers/audit.py); other
workflows that care about thread messages register a `thread_listener` here instead of a
listener of their own, and run inside the same unit of work as the capture.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.unit import Actor, Unit
from storage import audit as audit_repo
from storage import cases as cases_repo
from storage.audit import EntryKind, ThreadEntry
from storage.cases import Case
from storage.db import snapshot_scope

if TYPE_CHECKING:
    from bot.deps import Deps

ACTIONS = {
    EntryKind.POSTED: "thread.message_posted",
    EntryKind.FILE_SHARED: "thread.file_shared",
    EntryKind.EDITED: "thread.message_edited",
    EntryKind.DELETED: "thread.message_deleted",
}


@dataclass(frozen=True)
class FileFacts:
    """What we keep about a shared file: never its content, and its name only encrypted."""

    id: str
    name: str
    mimetype: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ThreadActivity:
    """A human message event in some thread, read out of Slack's payload by the handler."""

    kind: EntryKind
    channel: str
    thread_ts: str
    message_ts: str
    user_id: str
    at: datetime
    text: str | None = None
    files: tuple[FileFacts, ...] = field(default_factory=tuple)


ThreadListener = Callable[[Unit, Case, ThreadEntry, ThreadActivity], None]
THREAD_LISTENERS: list[ThreadListener] = []


def thread_listener(fn: ThreadListener) -> ThreadListener:
    """Register a workflow's reaction to a captured thread message (same transaction)."""
    THREAD_LISTENERS.append(fn)
    return fn


def in_case_thread(deps: Deps, activity: ThreadActivity) -> bool:
    """A cheap read-only look first: most channel messages are not in a case thread, and a
    unit of work would take SQLite's write lock for each of them."""
    with snapshot_scope(deps.engine) as session:
        found = audit_repo.case_for_thread(
            session=session, channel=activity.channel, thread_ts=activity.thread_ts
        )
        return found is not None


def record_activity(unit: Unit, activity: ThreadActivity, *, delivery_id: str) -> ThreadEntry | None:
    """Keep a message event if it belongs to a case thread; None (and nothing saved) if not.

    A Slack retry of the same delivery raises Duplicate from `unit.once`, so it is kept once.
    """
    case = audit_repo.case_for_thread(
        session=unit.session, channel=activity.channel, thread_ts=activity.thread_ts
    )
    if case is None:
        return None
    unit.once(f"event:{delivery_id}")
    cipher = unit.deps.cipher
    files = [vars(f) for f in activity.files]
    entry = ThreadEntry(
        case_id=case.id,
        kind=activity.kind,
        channel=activity.channel,
        message_ts=activity.message_ts,
        thread_ts=activity.thread_ts,
        user_id=activity.user_id,
        event_id=unit.actor.correlation_id,
        at=activity.at,
        recorded_at=unit.now,
        text_enc=cipher.encrypt_optional(activity.text),
        files_enc=cipher.encrypt(json.dumps(files)) if files else None,
        file_count=len(files),
    )
    unit.session.add(entry)
    unit.session.flush()
    on_team = cases_repo.membership(session=unit.session, case_id=case.id, user_id=activity.user_id)
    unit.audit(
        ACTIONS[activity.kind],
        case_id=case.id,
        target=f"message:{activity.message_ts}",
        entry=entry.id,
        chars=len(activity.text or ""),
        files=len(files),
        on_team=on_team is not None,
    )
    for listener in THREAD_LISTENERS:
        listener(unit, case, entry, activity)
    return entry


@dataclass(frozen=True)
class TranscriptLine:
    """One decrypted transcript entry, for exports."""

    id: int
    kind: str
    at: datetime
    user_id: str
    message_ts: str
    thread_ts: str
    event_id: str | None
    text: str | None
    files: list[dict[str, Any]]
    purged: bool


def transcript_of(unit: Unit, case_id: int) -> list[TranscriptLine]:
    """The decrypted transcript. The caller has checked access and audits the read."""
    cipher = unit.deps.cipher
    lines = []
    for entry in audit_repo.transcript(session=unit.session, case_id=case_id):
        files = json.loads(cipher.decrypt(entry.files_enc)) if entry.files_enc else []
        lines.append(
            TranscriptLine(
                id=entry.id or 0,
                kind=entry.kind,
                at=entry.at,
                user_id=entry.user_id,
                message_ts=entry.message_ts,
                thread_ts=entry.thread_ts,
                event_id=entry.event_id,
                text=cipher.decrypt_optional(entry.text_enc),
                files=files,
                purged=entry.purged_at is not None,
            )
        )
    return lines


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    entries: int
    cases: int


def purge_transcripts(deps: Deps, *, older_than_days: int, actor: Actor) -> PurgeResult:
    """Remove transcript text and file facts older than the retention age, case by case
    (one transaction and one audit event per case); the audit events stay as they are."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = deps.clock.now() - timedelta(days=older_than_days)
    with deps.unit(actor) as unit:
        counts = audit_repo.purgeable_counts(session=unit.session, cutoff=cutoff)
    total = 0
    for case_id in sorted(counts):
        with deps.unit(actor) as unit:
            purged = audit_repo.purge_case_transcript(
                session=unit.session, case_id=case_id, cutoff=cutoff, now=unit.now
            )
            unit.audit(
                "transcript.purged",
                case_id=case_id,
                target=f"C-{case_id}",
                entries=purged,
                older_than_days=older_than_days,
                cutoff=cutoff.isoformat(),
            )
            total += purged
    with deps.unit(actor) as unit:
        unit.audit(
            "transcript.purge_run",
            entries=total,
            cases=len(counts),
            older_than_days=older_than_days,
            cutoff=cutoff.isoformat(),
        )
    return PurgeResult(cutoff=cutoff, entries=total, cases=len(counts))
