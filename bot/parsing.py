"""Parsing slash-command text into typed commands. Pure functions, no I/O.

Slack sends command text with `&`, `<`, `>` escaped and, with `should_escape: true`,
mentions as `<@U123|name>` (or `<@U123>`). Anything we cannot read becomes a BadInput
carrying the usage line for that subcommand, so the user is told exactly how to fix it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.errors import BadInput
from storage.models import Role

MAX_LABEL = 80
MAX_REASON = 500
MAX_MED_NAME = 80
MAX_MED_DETAIL = 200
MAX_COMMAND_TEXT = 2000

CASE_USAGE = {
    "help": "`/case help`",
    "create": "`/case create <label> [as <role>]`, or `/case create` alone for a form",
    "add": "`/case add <case> @person <role>`",
    "remove": "`/case remove <case> @person`",
    "show": "`/case show <case>`",
    "list": "`/case list` (or `/case list all` for admins)",
    "close": "`/case close <case> [reason]`",
    "reopen": "`/case reopen <case>`",
    "med": "`/case med <case> add <name> [dose and schedule]` or `/case med <case> stop <name>`",
}
ROLE_HELP = "Roles: " + ", ".join(f"`{r.value}`" for r in Role) + "."

_CASE_REF = re.compile(r"^[Cc]-?(\d{1,9})$")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_ROLE_ALIASES = {
    "prescriber": Role.PRESCRIBER,
    "psychiatrist": Role.PRESCRIBER,
    "therapist": Role.THERAPIST,
    "case-manager": Role.CASE_MANAGER,
    "case_manager": Role.CASE_MANAGER,
    "casemanager": Role.CASE_MANAGER,
    "cm": Role.CASE_MANAGER,
    "pcp": Role.PCP,
    "primary-care": Role.PCP,
    "pharmacist": Role.PHARMACIST,
}


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class CreateCase:
    label: str | None  # None: open the form
    role: Role = Role.CASE_MANAGER


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
class AddMedication:
    case_id: int
    name: str
    detail: str | None


@dataclass(frozen=True)
class StopMedication:
    case_id: int
    name: str


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
    | StopMedication
)


def unescape(text: str) -> str:
    """Undo Slack's escaping of command text (only these three entities are used)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clean_text(text: str, *, what: str, limit: int, usage: str) -> str:
    """Printable, single-spaced, bounded free text, or a BadInput saying what was wrong."""
    text = " ".join(unescape(text).split())
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise BadInput(f"The {what} contains control or invisible characters.", usage=usage)
    if len(text) > limit:
        raise BadInput(f"The {what} is {len(text)} characters long; the limit is {limit}.", usage=usage)
    return text


def parse_case_ref(token: str, *, usage: str) -> int:
    match = _CASE_REF.match(token.strip())
    if not match:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise BadInput(f"`{shown}` is not a case id. Case ids look like `C-12`.", usage=usage)
    return int(match.group(1))


def parse_mention(token: str, *, usage: str) -> str:
    match = _MENTION.match(token.strip())
    if not match:
        raise BadInput(
            "Name the person with an @-mention (pick them from Slack's list as you type @), "
            "not as plain text.",
            usage=usage,
        )
    return match.group(1)


def parse_role(token: str, *, usage: str) -> Role:
    role = _ROLE_ALIASES.get(token.strip().lower())
    if role is None:
        shown = token if len(token) <= 20 else token[:20] + "…"
        raise BadInput(f"`{shown}` is not a care-team role. {ROLE_HELP}", usage=usage)
    return role


def _need(parts: list[str], count: int, sub: str) -> None:
    if len(parts) < count:
        raise BadInput("Something is missing from that command.", usage=CASE_USAGE[sub])


def parse_case_command(text: str) -> CaseCommand:
    if len(text) > MAX_COMMAND_TEXT:
        raise BadInput(f"That command is too long ({len(text)} characters).", usage=CASE_USAGE["help"])
    parts = text.split()
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
        return _parse_med(args, rest_after)
    raise BadInput(f"`{sub[:20]}` is not a /case command.", usage=CASE_USAGE["help"])


def _rest_after(text: str):
    """The raw text after the first n words, with its inner spacing kept."""

    def rest(n: int) -> str:
        remaining = text.strip()
        for _ in range(n):
            pieces = remaining.split(None, 1)
            remaining = pieces[1] if len(pieces) > 1 else ""
        return remaining

    return rest


def _parse_create(rest: str) -> CreateCase:
    usage = CASE_USAGE["create"]
    if not rest.strip():
        return CreateCase(label=None)
    role = Role.CASE_MANAGER
    words = rest.split()
    if len(words) >= 2 and words[-2].lower() == "as":
        role = parse_role(words[-1], usage=usage)
        rest = rest.rsplit(None, 2)[0]
    label = clean_text(rest, what="label", limit=MAX_LABEL, usage=usage)
    if not label:
        raise BadInput("The case needs a label.", usage=usage)
    if "<@" in label or "<#" in label or "<!" in label:
        raise BadInput("A label cannot contain mentions or channel links; use a pseudonym.", usage=usage)
    return CreateCase(label=label, role=role)


def _parse_med(args: list[str], rest_after) -> CaseCommand:
    usage = CASE_USAGE["med"]
    _need(args, 3, "med")
    case_id = parse_case_ref(args[0], usage=usage)
    verb = args[1].lower()
    if verb == "add":
        name = clean_text(args[2], what="medication name", limit=MAX_MED_NAME, usage=usage)
        detail = clean_text(rest_after(4), what="dose and schedule", limit=MAX_MED_DETAIL, usage=usage)
        return AddMedication(case_id, name, detail or None)
    if verb == "stop":
        name = clean_text(rest_after(3), what="medication name", limit=MAX_MED_NAME, usage=usage)
        return StopMedication(case_id, name)
    raise BadInput(f"`{verb[:20]}` is not a medication action; use `add` or `stop`.", usage=usage)
