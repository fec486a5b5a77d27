"""Parsing `/sideeffect` command text into typed commands. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref, parse_id

SIDE_EFFECT_USAGE = {
    "report": "`/sideeffect <case>` to report a side effect (or `/sideeffect` alone to pick the case)",
    "list": "`/sideeffect list <case>` for a case's open reports",
    "help": "`/sideeffect help`",
}
ALL_USAGE = "; ".join(SIDE_EFFECT_USAGE.values())


@dataclass(frozen=True)
class OpenReportForm:
    case_id: int | None  # None: the form asks which case


@dataclass(frozen=True)
class ListReports:
    case_id: int


SideEffectCommand = Help | OpenReportForm | ListReports


def parse_sideeffect_command(text: str) -> SideEffectCommand:
    parts = bounded_command(text, usage=ALL_USAGE).split()
    if not parts:
        return OpenReportForm(case_id=None)
    sub, args = parts[0].lower(), parts[1:]
    if sub == "help":
        if args:
            raise BadInput("`/sideeffect help` takes nothing after it.", usage=SIDE_EFFECT_USAGE["help"])
        return Help()
    if sub == "list":
        if len(args) != 1:
            raise BadInput("Name one case to list its open reports.", usage=SIDE_EFFECT_USAGE["list"])
        return ListReports(parse_case_ref(args[0], usage=SIDE_EFFECT_USAGE["list"]))
    case_id = parse_case_ref(parts[0], usage=ALL_USAGE)
    if args:
        raise BadInput(
            "Give only the case id; the form asks for the details (symptoms, FIBSER, red flags).",
            usage=SIDE_EFFECT_USAGE["report"],
        )
    return OpenReportForm(case_id=case_id)


def parse_report_id(raw: str | None) -> int:
    """A report id carried in a button value or a modal's private_metadata."""
    return parse_id(raw, stale="That button or form no longer points at a report. Open the report again.")
