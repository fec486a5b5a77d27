"""Parsing `/audit` command text. Pure functions, no I/O.

/audit C-12                  the timeline, newest first, page 1
/audit C-12 page 3           an older page
/audit C-12 export [csv|json|fhir]
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref, shown, whole_number

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
class ShowTimeline:
    case_id: int
    page: int = 1


@dataclass(frozen=True)
class ExportTrail:
    case_id: int
    format: ExportFormat = ExportFormat.CSV


AuditCommand = Help | ShowTimeline | ExportTrail


def parse_page(token: str, *, usage: str) -> int:
    page = whole_number(token)
    if page is None or not 1 <= page <= MAX_PAGE:
        raise BadInput(f"`{shown(token)}` is not a page number; pages start at 1.", usage=usage)
    return page


def parse_audit_command(text: str) -> AuditCommand:
    parts = bounded_command(text, usage=AUDIT_HELP).split()
    if not parts or parts[0].lower() == "help":
        return Help()
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
            raise BadInput(
                f"`{shown(rest[1])}` is not an export format; use csv, json or fhir.",
                usage=AUDIT_USAGE["export"],
            ) from None
    raise BadInput(f"`{shown(parts[1])}` is not an /audit option.", usage=AUDIT_HELP)
