"""Parsing `/safety` command text. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref

SAFETY_USAGE = {
    "form": "`/safety <case>` opens the risk assessment and safety plan form, e.g. `/safety C-12`",
    "help": "`/safety help`",
}
USAGE_ALL = " · ".join(SAFETY_USAGE.values())


@dataclass(frozen=True)
class OpenSafetyForm:
    case_id: int


SafetyCommand = OpenSafetyForm | Help


def parse_safety_command(text: str) -> SafetyCommand:
    tokens = bounded_command(text, usage=USAGE_ALL).split()
    if not tokens or tokens[0].lower() == "help":
        return Help()
    if len(tokens) > 1:
        raise BadInput("Give only the case id; the form asks for the rest.", usage=SAFETY_USAGE["form"])
    return OpenSafetyForm(parse_case_ref(tokens[0], usage=SAFETY_USAGE["form"]))
