"""Parsing `/audit` command text. Pure functions, no I/O.

/audit C-12                  the timeline, newest first, page 1
/audit C-12 page 3           an older page
/audit C-12 export [csv|json|fhir]
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import BadInput
from bot.inputs import MAX_COMMAND_TEXT, parse_case_ref

MAX_PAGE = 100_000


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    FHIR = "fhir"


AUDIT_USAGE = {
    "show": "`/audit <case>` (e.g. `/audit C-12`), then `/audit <case> page <n>` for older events",
    "export": "`/audit <case> export [csv|json|fhir]` sends you the full trail and thread transcript by DM",
}
AUDIT_HELP = " · ".join(AUDIT_USAGE.values())


@dataclass(frozen=True)
class AuditHelp:
    pass


@dataclass(frozen=True)
class ShowTimeline:
    case_id: int
    page: int = 1


@dataclass(frozen=True)
class ExportTrail:
    case_id: int
    format: ExportFormat = ExportFormat.CSV


AuditCommand = AuditHelp | ShowTimeline | ExportTrail


def parse_page(token: str, *, usage: str) -> int:
    if not token.isdigit() or not 1 <= int(token) <= MAX_PAGE:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise BadInput(f"`{shown}` is not a page number; pages start at 1.", usage=usage)
    return int(token)


def parse_audit_command(text: str) -> AuditCommand:
    if len(text) > MAX_COMMAND_TEXT:
        raise BadInput(f"That command is too long ({len(text)} characters).", usage=AUDIT_HELP)
    parts = text.split()
    if not parts or parts[0].lower() == "help":
        return AuditHelp()
    case_id = parse_case_ref(parts[0], usage=AUDIT_USAGE["show"])
    rest = [p.lower() for p in parts[1:]]
    if not rest:
        return ShowTimeline(case_id)
    if rest[0] == "page":
        if len(rest) != 2:
            raise BadInput("Say which page, e.g. `page 2`.", usage=AUDIT_USAGE["show"])
        return ShowTimeline(case_id, parse_page(rest[1], usage=AUDIT_USAGE["show"]))
    if rest[0] == "export":
        if len(rest) > 2:
            raise BadInput("Export takes one format: csv, json or fhir.", usage=AUDIT_USAGE["export"])
        if len(rest) == 1:
            return ExportTrail(case_id)
        try:
            return ExportTrail(case_id, ExportFormat(rest[1]))
        except ValueError:
            shown = rest[1] if len(rest[1]) <= 20 else rest[1][:20] + "…"
            raise BadInput(
                f"`{shown}` is not an export format; use csv, json or fhir.", usage=AUDIT_USAGE["export"]
            ) from None
    shown = parts[1] if len(parts[1]) <= 20 else parts[1][:20] + "…"
    raise BadInput(f"`{shown}` is not an /audit option.", usage=AUDIT_HELP)
