"""Reading the audit trail: a case's timeline a page at a time, and exports of the whole
trail with the thread transcript. Both are reads of the audit trail and are audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime

from bot.access import case_ref, open_case
from bot.audit import export as audit_export
from bot.audit import sentences
from bot.audit.commands import AUDIT_USAGE, ExportFormat
from bot.audit.transcript import transcript_of
from bot.auditlog import event_hash
from bot.errors import BadInput
from bot.medications.service import history as medication_history
from bot.unit import Unit
from storage import audit as repo
from storage import cases as cases_repo
from storage.cases import Case
from storage.core import AuditEvent

PAGE_SIZE = 15
DELIVERY = "message."  # the relay's events: folded under the step that queued the message


@dataclass(frozen=True)
class TimelineItem:
    seq: int
    at: datetime
    action: str
    sentence: str  # mrkdwn; people as `<@U…>` mentions, case-level ids only
    outcome: str = ""  # "" when ok, else a word: denied, not understood, failed…
    deliveries: str = ""  # what became of the messages this step queued


@dataclass(frozen=True)
class Timeline:
    case_id: int
    ref: str
    page: int
    pages: int
    total: int
    upto: int  # the newest seq the pages are counted from, so paging does not shift
    items: list[TimelineItem]

    @property
    def has_older(self) -> bool:
        return self.page < self.pages

    @property
    def has_newer(self) -> bool:
        return self.page > 1


def timeline(unit: Unit, *, case_id: int, page: int = 1, upto: int | None = None) -> Timeline:
    """One page of the case's events, newest first; team members and admins only.

    Pages are counted back from `upto` (default: the newest event now). Reading appends an
    event, so the page buttons carry `upto` and "Older" never repeats what was just shown.
    """
    open_case(unit, case_id)
    ref = case_ref(case_id)
    if upto is None:
        upto = repo.newest_case_seq(session=unit.session, case_id=case_id)
    total = repo.count_case_events(session=unit.session, case_id=case_id, upto=upto)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages:
        raise BadInput(
            f"{ref}'s audit trail has {pages} page{'s' if pages != 1 else ''}; there is no page {page}.",
            usage=AUDIT_USAGE["show"],
            case_id=case_id,
        )
    rows = repo.case_events_page(
        session=unit.session, case_id=case_id, upto=upto, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    unit.audit("audit.viewed", case_id=case_id, target=ref, page=page)
    return Timeline(case_id, ref, page, pages, total, upto, fold(rows, ref))


def fold(rows: list[AuditEvent], ref: str) -> list[TimelineItem]:
    """The page's events (newest first) as sentences, each delivery event folded into the
    step before it, which queued the message. Deliveries whose step is on an older page
    are shown together as one line of their own."""
    groups: list[tuple[AuditEvent | None, list[AuditEvent]]] = []  # oldest first
    for row in reversed(rows):
        if not row.action.startswith(DELIVERY):
            groups.append((row, []))
        elif groups:
            groups[-1][1].append(row)
        else:
            groups.append((None, [row]))
    items = []
    for step, deliveries in reversed(groups):
        summary = sentences.delivery_summary([d.action for d in deliveries])
        if step is None:
            first = deliveries[0]
            text = f"CareThread sent messages: {summary}"
            items.append(TimelineItem(first.seq, first.at, first.action, text))
        else:
            items.append(replace(_item(step, ref), deliveries=summary))
    return items


def _item(row: AuditEvent, ref: str) -> TimelineItem:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    if not isinstance(details, dict):
        details = {}
    text = sentences.sentence(row.action, actor=row.actor, case_ref=ref, target=row.target, details=details)
    outcome = "" if row.outcome == "ok" else sentences.OUTCOMES.get(row.outcome, row.outcome)
    return TimelineItem(row.seq, row.at, row.action, text, outcome)


@dataclass(frozen=True)
class ExportFile:
    case_id: int
    ref: str
    format: ExportFormat
    filename: str
    content: bytes
    events: int
    transcript_entries: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def export_trail(unit: Unit, *, case_id: int, fmt: ExportFormat, operator: bool = False) -> ExportFile:
    """The case's whole trail and transcript as a file, audited with the file's SHA-256.

    `operator=True` is the command line on the server: whoever runs it already holds the
    database and its keys, so there is no team check, but the export is audited all the same.
    """
    if operator:
        case = cases_repo.get_case(session=unit.session, case_id=case_id)
        if case is None:
            raise BadInput(f"There is no case {case_ref(case_id)} in this database.")
    else:
        case = open_case(unit, case_id).case
    data = _export_data(unit, case)
    content = audit_export.render(data, fmt)
    export = ExportFile(
        case_id=case_id,
        ref=case.ref,
        format=fmt,
        filename=audit_export.filename(case.ref, fmt, unit.now),
        content=content,
        events=len(data.events),
        transcript_entries=len(data.transcript),
    )
    unit.audit(
        "audit.exported",
        case_id=case_id,
        target=case.ref,
        format=str(fmt),
        events=export.events,
        transcript_entries=export.transcript_entries,
        bytes=len(content),
        sha256=export.sha256,
    )
    return export


def _export_data(unit: Unit, case: Case) -> audit_export.ExportData:
    key = unit.deps.audit_key
    events = [
        audit_export.EventRecord.of(row, hash_valid=hmac.compare_digest(event_hash(key, row), row.hash))
        for row in repo.case_events(session=unit.session, case_id=case.id or 0)
    ]
    return audit_export.ExportData(
        case_ref=case.ref,
        exported_at=unit.now,
        exported_by=unit.actor.user_id,
        events=events,
        transcript=transcript_of(unit, case.id or 0),
        medications=medication_history(unit, case),
    )
