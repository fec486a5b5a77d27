"""A case's audit trail, thread transcript and medication history as a file: CSV, JSON, or a
FHIR R5 Bundle of AuditEvent and MedicationStatement resources. Pure functions of already-read,
already-authorized data.

Every event carries its seq, previous hash and hash, and whether its HMAC checked out at
export time, so an auditor holding the key can check each event on their own. A case's
events are a subsequence of the one chain, so the links between them are checked by
`python -m bot.audit verify` on the whole chain, not from an export.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir.resources.bundle import Bundle

from bot.audit.commands import ExportFormat
from bot.audit.transcript import TranscriptLine
from bot.auditlog import APP_ACTOR
from bot.medications.service import MedicationHistory
from storage.core import AuditEvent

# Code systems we define for our own codes. Deployers may point these at their own
# terminology server; the values are stable.
FHIR_BASE = "https://carethread.example.org/fhir"
ACTION_SYSTEM = f"{FHIR_BASE}/CodeSystem/audit-action"
SOURCE_SYSTEM = f"{FHIR_BASE}/CodeSystem/audit-source"
CASE_SYSTEM = f"{FHIR_BASE}/NamingSystem/case"
TARGET_SYSTEM = f"{FHIR_BASE}/NamingSystem/target"
MEDICATION_KIND_SYSTEM = f"{FHIR_BASE}/CodeSystem/medication-kind"
MEDICATION_CHANGE_SYSTEM = f"{FHIR_BASE}/CodeSystem/medication-change"
SLACK_USER_SYSTEM = "https://slack.com/user-id"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
OUTCOME_CODES = {"ok": ("0", "Success"), "error": ("8", "Serious failure")}
MINOR_FAILURE = ("4", "Minor failure")  # denied, bad input, conflict: refused, nothing changed

CSV_COLUMNS = (
    "record",
    "seq",
    "at",
    "actor",
    "action",
    "outcome",
    "source",
    "target",
    "correlation_id",
    "details",
    "prev_hash",
    "hash",
    "hash_valid",
    "entry_id",
    "kind",
    "message_ts",
    "thread_ts",
    "text",
    "files",
    "purged",
)
# A cell starting with one of these is a formula to a spreadsheet: quote it (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class EventRecord:
    seq: int
    at: datetime
    team_id: str | None
    actor: str
    action: str
    outcome: str
    source: str
    target: str | None
    correlation_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    hash_valid: bool

    @classmethod
    def of(cls, row: AuditEvent, *, hash_valid: bool) -> EventRecord:
        stored = row.model_dump(exclude={"case_id", "details"})
        return cls(**stored, details=json.loads(row.details or "{}"), hash_valid=hash_valid)


@dataclass(frozen=True)
class ExportData:
    case_ref: str
    exported_at: datetime
    exported_by: str
    events: list[EventRecord]
    transcript: list[TranscriptLine]
    medications: list[MedicationHistory] = field(default_factory=list)


def render(data: ExportData, fmt: ExportFormat) -> bytes:
    if fmt == ExportFormat.CSV:
        return to_csv(data)
    if fmt == ExportFormat.JSON:
        return to_json(data)
    return to_fhir(data)


def filename(case_ref: str, fmt: ExportFormat, at: datetime) -> str:
    suffix = {ExportFormat.CSV: "csv", ExportFormat.JSON: "json", ExportFormat.FHIR: "fhir.json"}[fmt]
    return f"carethread-audit-{case_ref}-{at.strftime('%Y%m%dT%H%M%SZ')}.{suffix}"


# -- CSV ---------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(data: ExportData) -> bytes:
    """One table: an `export` row (what, by whom, when), then `event` rows oldest first, then
    `transcript` rows. Cells that a spreadsheet would run as formulas start with a quote."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(
        {
            "record": "export",
            "at": _cell(data.exported_at),
            "actor": _cell(data.exported_by),
            "target": _cell(data.case_ref),
            "details": _cell(
                {
                    "events": len(data.events),
                    "transcript_entries": len(data.transcript),
                    "medications": len(data.medications),
                }
            ),
        }
    )
    for e in data.events:
        row = {name: _cell(getattr(e, name)) for name in CSV_COLUMNS if hasattr(e, name)}
        writer.writerow({**row, "record": "event"})
    for line in data.transcript:
        writer.writerow(
            {
                "record": "transcript",
                "at": _cell(line.at),
                "actor": _cell(line.user_id),
                "correlation_id": _cell(line.event_id),
                "entry_id": _cell(line.id),
                "kind": _cell(line.kind),
                "message_ts": _cell(line.message_ts),
                "thread_ts": _cell(line.thread_ts),
                "text": _cell(line.text),
                "files": _cell(line.files) if line.files else "",
                "purged": _cell(line.purged),
            }
        )
    for med in data.medications:
        for entry in med.entries:
            writer.writerow(
                {
                    "record": "medication",
                    "at": _cell(entry.at),
                    "actor": _cell(entry.by),
                    "action": _cell(entry.kind),
                    "target": _cell(f"medication:{med.id}"),
                    "details": _cell(_entry_json(med, entry)),
                }
            )
    return out.getvalue().encode("utf-8")


def _entry_json(med: MedicationHistory, entry: Any) -> dict[str, Any]:
    return {
        "medication": med.name,
        "medication_kind": med.kind,
        "change": entry.kind,
        "at": entry.at.isoformat(),
        "by": entry.by,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "switched_to": entry.switched_to,
    }


# -- JSON --------------------------------------------------------------------------------------


def _event_json(e: EventRecord) -> dict[str, Any]:
    return {**vars(e), "at": e.at.isoformat()}


def _line_json(line: TranscriptLine) -> dict[str, Any]:
    return {**vars(line), "at": line.at.isoformat()}


def to_json(data: ExportData) -> bytes:
    doc = {
        "case": data.case_ref,
        "exported_at": data.exported_at.isoformat(),
        "exported_by": data.exported_by,
        "events": [_event_json(e) for e in data.events],
        "transcript": [_line_json(line) for line in data.transcript],
        "medications": [
            {
                "id": med.id,
                "name": med.name,
                "kind": med.kind,
                "active": med.active,
                "history": [_entry_json(med, entry) for entry in med.entries],
            }
            for med in data.medications
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


# -- FHIR R5 -----------------------------------------------------------------------------------


def _crud(action: str) -> str:
    verb = action.rsplit(".", 1)[-1]
    if verb in ("viewed", "listed", "exported", "verified", "help_viewed", "create_form_opened"):
        return "R"
    if verb in ("created", "added", "message_posted", "file_shared"):
        return "C"
    if verb in ("removed", "message_deleted", "purged"):
        return "D"
    if action.startswith(("message.", "audit.verify", "command:", "modal:", "home:")):
        return "E"
    return "U"


def _outcome(outcome: str) -> dict[str, Any]:
    code, display = OUTCOME_CODES.get(outcome, MINOR_FAILURE)
    return {
        "code": {"system": OUTCOME_SYSTEM, "code": code, "display": display},
        "detail": [{"text": outcome}],
    }


def _agent(actor: str) -> dict[str, Any]:
    if actor == APP_ACTOR:
        return {"who": {"display": "CareThread (scheduled or delivery work)"}, "requestor": False}
    return {"who": {"identifier": {"system": SLACK_USER_SYSTEM, "value": actor}}, "requestor": True}


def _detail(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": {"text": name}, "valueBoolean": value}
    if isinstance(value, int):
        return {"type": {"text": name}, "valueInteger": value}
    return {"type": {"text": name}, "valueString": str(value)}


def _thread_details(line: TranscriptLine) -> list[dict[str, Any]]:
    details = [_detail("message_ts", line.message_ts), _detail("purged", line.purged)]
    if line.text is not None:
        details.append(_detail("text", line.text))
    if line.files:
        details.append(_detail("files", json.dumps(line.files, ensure_ascii=False)))
    return details


def _audit_event(e: EventRecord, case_ref: str, line: TranscriptLine | None) -> dict[str, Any]:
    chain = [
        _detail("seq", e.seq),
        _detail("prev_hash", e.prev_hash),
        _detail("hash", e.hash),
        _detail("hash_valid", e.hash_valid),
        _detail("details", json.dumps(e.details, sort_keys=True, ensure_ascii=False)),
    ]
    if e.correlation_id:
        chain.append(_detail("correlation_id", e.correlation_id))
    if e.team_id:
        chain.append(_detail("slack_team", e.team_id))
    entities: list[dict[str, Any]] = [
        {"what": {"identifier": {"system": CASE_SYSTEM, "value": case_ref}}, "detail": chain}
    ]
    if e.target:
        target: dict[str, Any] = {"what": {"identifier": {"system": TARGET_SYSTEM, "value": e.target}}}
        if line is not None:
            target["detail"] = _thread_details(line)
        entities.append(target)
    return {
        "resourceType": "AuditEvent",
        "id": f"seq-{e.seq}",
        "category": [{"coding": [{"system": SOURCE_SYSTEM, "code": e.source}]}],
        "code": {"coding": [{"system": ACTION_SYSTEM, "code": e.action}], "text": e.action},
        "action": _crud(e.action),
        "recorded": e.at.isoformat(),
        "outcome": _outcome(e.outcome),
        "agent": [_agent(e.actor)],
        "source": {
            "observer": {"display": "CareThread"},
            "type": [
                {"coding": [{"system": SOURCE_TYPE_SYSTEM, "code": "4", "display": "Application Server"}]}
            ],
        },
        "entity": entities,
    }


def _orphan_line_event(line: TranscriptLine, case_ref: str) -> dict[str, Any]:
    """A transcript entry whose audit event is not among the case's events (cannot happen
    while both are written in one transaction; kept so an export never drops text)."""
    return {
        "resourceType": "AuditEvent",
        "id": f"entry-{line.id}",
        "code": {"coding": [{"system": ACTION_SYSTEM, "code": f"thread.{line.kind}"}]},
        "action": "C",
        "recorded": line.at.isoformat(),
        "agent": [_agent(line.user_id)],
        "source": {"observer": {"display": "CareThread"}},
        "entity": [
            {"what": {"identifier": {"system": CASE_SYSTEM, "value": case_ref}}},
            {
                "what": {"identifier": {"system": TARGET_SYSTEM, "value": f"message:{line.message_ts}"}},
                "detail": _thread_details(line),
            },
        ],
    }


def _medication_statements(med: MedicationHistory, case_ref: str) -> list[dict[str, Any]]:
    """One MedicationStatement per period at one dose and schedule: from a start or change
    to the next change or the stop (open while the medication is active). Each carries the
    change that began it, who made it and the reason given."""
    statements = []
    periods = [e for e in med.entries if e.kind != "stop"]
    stop = next((e for e in med.entries if e.kind in ("stop", "switch")), None)
    for n, entry in enumerate(periods):
        end = periods[n + 1].at if n + 1 < len(periods) else (stop.at if stop else None)
        if entry.kind == "switch":  # the switch ends this medication; its new one starts itself
            continue
        period: dict[str, Any] = {"start": entry.at.isoformat()}
        if end is not None:
            period["end"] = end.isoformat()
        statement: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": f"med-{med.id}-{n + 1}",
            "status": "recorded",
            "category": [
                {"coding": [{"system": MEDICATION_KIND_SYSTEM, "code": med.kind}]},
                {"coding": [{"system": MEDICATION_CHANGE_SYSTEM, "code": entry.kind}]},
            ],
            "medication": {"concept": {"text": med.name}},
            "subject": {"identifier": {"system": CASE_SYSTEM, "value": case_ref}, "display": case_ref},
            "effectivePeriod": period,
            "dateAsserted": entry.at.isoformat(),
            "informationSource": [{"identifier": {"system": SLACK_USER_SYSTEM, "value": entry.by}}],
        }
        if entry.after:
            statement["dosage"] = [{"text": entry.after}]
        if entry.reason:
            statement["reason"] = [{"concept": {"text": entry.reason}}]
        if end is not None and stop is not None and end == stop.at:
            note = f"{stop.kind} on {stop.at.date().isoformat()} by {stop.by}"
            statement["note"] = [{"text": note + (f": {stop.reason}" if stop.reason else "")}]
        statements.append(statement)
    return statements


def fhir_bundle(data: ExportData) -> Bundle:
    """Built as plain data, then parsed and validated by fhir.resources' R5 models."""
    by_event = {line.event_id: line for line in data.transcript if line.event_id}
    resources = []
    used: set[str] = set()
    for e in data.events:
        line = by_event.get(e.correlation_id) if e.correlation_id and e.action.startswith("thread.") else None
        if line is not None and line.event_id:
            used.add(line.event_id)
        resources.append(_audit_event(e, data.case_ref, line))
    resources += [
        _orphan_line_event(line, data.case_ref) for line in data.transcript if line.event_id not in used
    ]
    for med in data.medications:
        resources += _medication_statements(med, data.case_ref)
    doc = {
        "resourceType": "Bundle",
        "identifier": {"system": f"{FHIR_BASE}/NamingSystem/export", "value": str(uuid.uuid4())},
        "type": "collection",
        "timestamp": data.exported_at.isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources],
    }
    return Bundle.model_validate(doc)


def to_fhir(data: ExportData) -> bytes:
    return fhir_bundle(data).model_dump_json(indent=1).encode("utf-8")
