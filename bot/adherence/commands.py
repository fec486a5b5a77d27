"""Parsing `/adherence` command text into typed commands. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref, parse_id

ADHERENCE_USAGE = {
    "report": "`/adherence <case> [what the patient said]` to report how the patient is taking a medication",
    "list": "`/adherence list <case>` for a case's open adherence reports",
    "help": "`/adherence help`",
}
ALL_USAGE = "; ".join(ADHERENCE_USAGE.values())


@dataclass(frozen=True)
class OpenAdherenceForm:
    case_id: int
    reason: str | None = None  # typed after the case: prefills the patient's words, to edit


@dataclass(frozen=True)
class ListAdherence:
    case_id: int


AdherenceCommand = Help | OpenAdherenceForm | ListAdherence


def parse_adherence_command(text: str) -> AdherenceCommand:
    parts = bounded_command(text, usage=ALL_USAGE).split()
    if not parts:
        raise BadInput(
            "Name the case the report is about, e.g. `/adherence C-12`.", usage=ADHERENCE_USAGE["report"]
        )
    sub, args = parts[0].lower(), parts[1:]
    if sub == "help":
        if args:
            raise BadInput("`/adherence help` takes nothing after it.", usage=ADHERENCE_USAGE["help"])
        return Help()
    if sub == "list":
        if len(args) != 1:
            raise BadInput("Name one case to list its open adherence reports.", usage=ADHERENCE_USAGE["list"])
        return ListAdherence(parse_case_ref(args[0], usage=ADHERENCE_USAGE["list"]))
    case_id = parse_case_ref(parts[0], usage=ALL_USAGE)
    rest = text.strip().split(None, 1)[1].strip() if args else ""
    return OpenAdherenceForm(case_id=case_id, reason=rest or None)


def parse_report_id(raw: str | None) -> int:
    """A report id carried in a button value or a modal's private_metadata."""
    return parse_id(raw, stale="That button or form no longer points at an adherence report. Open it again.")
