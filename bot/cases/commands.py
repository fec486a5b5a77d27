"""`/case` command text into typed commands. Pure functions, no I/O; the shared pieces
(cleaning, case ids, mentions, roles) are in bot/inputs.py."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.errors import BadInput
from bot.inputs import (
    Help,
    bounded_command,
    clean_text,
    parse_case_ref,
    parse_mention,
    parse_role,
    refuse_markup,
    shown,
)
from bot.medications.commands import (
    MED_USAGE,
    AddMedication,
    ChangeMedication,
    MedicationForm,
    parse_med_command,
    read_medication,
)
from storage.cases import Duty, Role

__all__ = ["AddMedication", "ChangeMedication", "MedicationForm", "read_medication"]

MAX_LABEL = 80
MAX_REASON = 500

CASE_USAGE = {
    "help": "`/case help`",
    "create": "`/case create <label> [as <role>] [own-channel]`, or `/case create` alone for a form",
    "add": "`/case add <case> @person <role>`",
    "remove": "`/case remove <case> @person`",
    "show": "`/case show <case>`",
    "list": "`/case list` (or `/case list all` for admins)",
    "close": "`/case close <case> [reason]`",
    "reopen": "`/case reopen <case>`",
    "med": MED_USAGE,
    "roles": "`/case roles <case>` (who does what), `/case roles <case> <responsibility> @person` "
    "(responsibilities: suicide-risk, refills, labs, med-questions, after-hours)",
    "consent": "`/case consent <case>` (record the patient's consent to share), `/case consent <case> show`",
}
OWN_CHANNEL_WORD = "own-channel"


@dataclass(frozen=True)
class CreateCase:
    label: str | None  # None: open the form
    role: Role = Role.CASE_MANAGER
    own_channel: bool = False  # the app makes the case a private channel of its own


@dataclass(frozen=True)
class AddMember:
    case_id: int
    user_id: str
    role: Role


@dataclass(frozen=True)
class RemoveMember:
    case_id: int
    user_id: str


@dataclass(frozen=True)
class ShowCase:
    case_id: int


@dataclass(frozen=True)
class ListCases:
    all: bool = False


@dataclass(frozen=True)
class CloseCase:
    case_id: int
    reason: str | None


@dataclass(frozen=True)
class ReopenCase:
    case_id: int


@dataclass(frozen=True)
class RecordConsent:
    case_id: int  # opens the consent form


@dataclass(frozen=True)
class ShowConsent:
    case_id: int


@dataclass(frozen=True)
class ShowDuties:
    case_id: int


@dataclass(frozen=True)
class AssignDuty:
    case_id: int
    duty: Duty
    user_id: str


CaseCommand = (
    Help
    | CreateCase
    | AddMember
    | RemoveMember
    | ShowCase
    | ListCases
    | CloseCase
    | ReopenCase
    | AddMedication
    | ChangeMedication
    | MedicationForm
    | RecordConsent
    | ShowConsent
    | ShowDuties
    | AssignDuty
)


def _need(parts: list[str], count: int, sub: str) -> None:
    if len(parts) < count:
        raise BadInput("Something is missing from that command.", usage=CASE_USAGE[sub])


def parse_case_command(text: str) -> CaseCommand:
    parts = bounded_command(text, usage=CASE_USAGE["help"]).split()
    if not parts:
        return Help()
    sub, args = parts[0].lower(), parts[1:]
    rest_after = _rest_after(text)

    if sub == "help":
        return Help()
    if sub == "create":
        return _parse_create(rest_after(1))
    if sub == "add":
        _need(args, 3, sub)
        usage = CASE_USAGE[sub]
        if len(args) > 3:
            raise BadInput("Add one person at a time, with one role.", usage=usage)
        return AddMember(
            parse_case_ref(args[0], usage=usage),
            parse_mention(args[1], usage=usage),
            parse_role(args[2], usage=usage),
        )
    if sub == "remove":
        _need(args, 2, sub)
        usage = CASE_USAGE[sub]
        if len(args) > 2:
            raise BadInput("Remove one person at a time.", usage=usage)
        return RemoveMember(parse_case_ref(args[0], usage=usage), parse_mention(args[1], usage=usage))
    if sub == "show":
        _need(args, 1, sub)
        return ShowCase(parse_case_ref(args[0], usage=CASE_USAGE[sub]))
    if sub == "list":
        if not args:
            return ListCases()
        if len(args) == 1 and args[0].lower() == "all":
            return ListCases(all=True)
        raise BadInput("`/case list` takes nothing, or `all`.", usage=CASE_USAGE[sub])
    if sub == "close":
        _need(args, 1, sub)
        reason = clean_text(rest_after(2), what="reason", limit=MAX_REASON, usage=CASE_USAGE[sub]) or None
        return CloseCase(parse_case_ref(args[0], usage=CASE_USAGE[sub]), reason)
    if sub == "reopen":
        _need(args, 1, sub)
        return ReopenCase(parse_case_ref(args[0], usage=CASE_USAGE[sub]))
    if sub in ("med", "meds", "medication"):
        return parse_med_command(rest_after(1))
    if sub in ("roles", "duties", "responsibilities"):
        usage = CASE_USAGE["roles"]
        _need(args, 1, "roles")
        case_id = parse_case_ref(args[0], usage=usage)
        if len(args) == 1:
            return ShowDuties(case_id)
        if len(args) != 3:
            raise BadInput(
                "Name one responsibility and one person, e.g. `/case roles C-12 refills @dr.lee`.",
                usage=usage,
            )
        return AssignDuty(case_id, parse_duty(args[1], usage=usage), parse_mention(args[2], usage=usage))
    if sub == "consent":
        usage = CASE_USAGE[sub]
        _need(args, 1, sub)
        case_id = parse_case_ref(args[0], usage=usage)
        if len(args) == 1:
            return RecordConsent(case_id)
        if len(args) == 2 and args[1].lower() == "show":
            return ShowConsent(case_id)
        raise BadInput("`/case consent` takes a case id, then nothing (the form) or `show`.", usage=usage)
    raise BadInput(f"`{shown(sub)}` is not a /case command.", usage=CASE_USAGE["help"])


def read_close_value(raw: str) -> tuple[int, str | None]:
    """The Close anyway button's value: the case id and the reason given with `/case close`,
    read back by the same rules as the command (a tampered value changes nothing)."""
    stale = BadInput(
        "That button no longer works; run `/case close <case>` again.", usage=CASE_USAGE["close"]
    )
    try:
        data = json.loads(raw)
    except ValueError:
        raise stale from None
    case_id, reason = (data.get("case"), data.get("reason")) if isinstance(data, dict) else (None, None)
    if not isinstance(case_id, int) or isinstance(case_id, bool) or case_id <= 0:
        raise stale
    if reason is not None and not isinstance(reason, str):
        raise stale
    reason = clean_text(reason or "", what="reason", limit=MAX_REASON, usage=CASE_USAGE["close"]) or None
    return case_id, reason


DUTY_WORDS: dict[str, Duty] = {
    **{d.value: d for d in Duty},
    "suicide": Duty.SUICIDE_RISK,
    "risk": Duty.SUICIDE_RISK,
    "refill": Duty.REFILLS,
    "lab": Duty.LABS,
    "labs-monitoring": Duty.LABS,
    "questions": Duty.MED_QUESTIONS,
    "crisis": Duty.AFTER_HOURS,
    "afterhours": Duty.AFTER_HOURS,
}


def parse_duty(word: str, *, usage: str | None = None) -> Duty:
    """One of the five responsibilities, by its name (or a short alias)."""
    duty = DUTY_WORDS.get(word.strip().lower())
    if duty is None:
        raise BadInput(
            f"`{shown(word)}` is not a responsibility. Use one of: "
            + ", ".join(f"`{d.value}`" for d in Duty)
            + ".",
            usage=usage,
        )
    return duty


def _rest_after(text: str):
    """The raw text after the first n words, with its inner spacing kept."""

    def rest(n: int) -> str:
        remaining = text.strip()
        for _ in range(n):
            pieces = remaining.split(None, 1)
            remaining = pieces[1] if len(pieces) > 1 else ""
        return remaining

    return rest


def read_label(text: str, *, usage: str | None = None, field: str | None = None) -> str:
    """A case label, by the same rules from `/case create <label>` and the New case form:
    one line, bounded, and a pseudonym, so nothing in it names or links to anyone."""
    label = clean_text(text, what="label", limit=MAX_LABEL, usage=usage, field=field)
    if not label:
        raise BadInput("Give the case a pseudonymous label, e.g. `Tall Pine 42`.", usage=usage, field=field)
    return refuse_markup(label, what="label", usage=usage, field=field)


def _parse_create(rest: str) -> CreateCase:
    """`<label> [as <role>] [own-channel]`: a trailing `as` must have a role after it and a
    label before it."""
    usage = CASE_USAGE["create"]
    if not rest.strip():
        return CreateCase(label=None)
    own_channel = rest.split()[-1].lower() == OWN_CHANNEL_WORD
    if own_channel:
        rest = rest.rsplit(None, 1)[0] if len(rest.split()) > 1 else ""
        if not rest.strip():
            raise BadInput(
                "Give the case a label before `own-channel`, e.g. `/case create Blue Heron own-channel`.",
                usage=usage,
            )
    role = Role.CASE_MANAGER
    words = rest.split()
    if words[-1].lower() == "as":
        raise BadInput("Name a role after `as`, e.g. `/case create Tall Pine as therapist`.", usage=usage)
    if len(words) >= 2 and words[-2].lower() == "as":
        role = parse_role(words[-1], usage=usage)
        rest = rest.rsplit(None, 2)[0] if len(words) > 2 else ""
        if not rest.strip():
            raise BadInput(
                "Give the case a label before `as`, e.g. `/case create Tall Pine as therapist`.", usage=usage
            )
    return CreateCase(label=read_label(rest, usage=usage), role=role, own_channel=own_channel)
