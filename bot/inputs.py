"""Reading what people type: the one place free text is cleaned and case ids, mentions and
roles are recognized, for every workflow's commands and forms.

Slack sends command text with `&`, `<`, `>` escaped and, with `should_escape: true`,
mentions as `<@U123|name>` (or `<@U123>`). Anything we cannot read becomes a BadInput
carrying the usage line for that command, so the user is told exactly how to fix it.
A modal's reader uses the same functions with `field=` (its block id) and collects every
problem with FieldCheck, so all of a form's mistakes come back at once
(handlers/replies.py read_submission answers them in the ack).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import Any, TypeVar

from bot.errors import BadInput, FieldErrors
from storage.cases import Role

MAX_COMMAND_TEXT = 2000
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database

T = TypeVar("T")
_HIDDEN = ("Cc", "Cf", "Co", "Cs")  # control, format (zero-width, bidi), private use, surrogates
_LINE_CONTROLS = "\n\t"
_BLANK_RUNS = re.compile(r"\n{3,}")
# What Slack would turn into a mention, a channel or broadcast, or a link: `<@U1>`, `<#C1>`,
# `<!here>`, `<https://…>`, a bare `https://…`, or a typed `@name` / `@here`.
_MARKUP = re.compile(r"<[@#!]|<[a-z][a-z0-9+.-]*:|[a-z][a-z0-9+.-]*://|(?:^|\s)@\w", re.IGNORECASE)
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
    "consultant": Role.CONSULTANT,
    "psychiatric-consultant": Role.CONSULTANT,
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_NAMES = {
    **{name: index for index, name in enumerate(WEEKDAYS)},
    **{name[:3]: index for index, name in enumerate(WEEKDAYS)},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_TIME = re.compile(r"^([0-9]{1,2})(?::([0-9]{2}))?(am|pm)?$")
ROLE_HELP = "Roles: " + ", ".join(f"`{r.value}`" for r in Role) + "."


@dataclass(frozen=True)
class Help:
    """What every command parser returns for `help` (or nothing): show the usage."""


def unescape(text: str) -> str:
    """Undo Slack's escaping of command text (only these three entities are used)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def shown(token: str, limit: int = 20) -> str:
    """A token quoted back in an error message, cut short so a reply stays readable."""
    return token if len(token) <= limit else token[:limit] + "…"


MIN_YEAR = 2000
MAX_YEAR = 2100


def parse_month(token: str, *, usage: str) -> tuple[int, int]:
    """A calendar month written YYYY-MM (billing periods: `/consult minutes`, `/registry
    minutes`) as (year, month)."""
    match = _MONTH.match(token.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise BadInput(f"`{shown(token)}` is not a month written YYYY-MM, e.g. 2026-11.", usage=usage)
    if not MIN_YEAR <= int(match[1]) <= MAX_YEAR:
        # Bounded so the month's end (January of the next year) is always a real date.
        raise BadInput(
            f"`{shown(token)}` is outside the years CareThread keeps {MIN_YEAR} to {MAX_YEAR}.", usage=usage
        )
    return int(match[1]), int(match[2])


def bounded_command(text: str, *, usage: str) -> str:
    """Command text, refused whole when it is longer than any command we understand."""
    if len(text) > MAX_COMMAND_TEXT:
        raise BadInput(f"That command is too long ({len(text)} characters).", usage=usage)
    return text


def clean_text(
    text: str | None,
    *,
    what: str,
    limit: int,
    lines: bool = False,
    required: bool = False,
    usage: str | None = None,
    field: str | None = None,
) -> str:
    """The one cleaning of free text, for every command and form field.

    Single-line text (`lines=False`: labels, names, reasons) has its spacing collapsed to
    single spaces. Multi-line text (`lines=True`: notes, I-PASS fields) keeps its line
    breaks and tabs; trailing space on each line goes, and runs of blank lines shrink to
    one. Either way: Slack's entities undone, the ends trimmed, control and invisible
    characters refused (they hide text from the reader), at most `limit` characters, and
    not empty when `required`. Errors carry `usage` (commands) or `field` (modal block).
    """
    text = unescape(text or "")
    if lines:
        text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        text = _BLANK_RUNS.sub("\n\n", text).strip()
    else:
        text = " ".join(text.split())
    allowed = _LINE_CONTROLS if lines else ""
    if any(unicodedata.category(ch) in _HIDDEN and ch not in allowed for ch in text):
        raise BadInput(f"The {what} contains control or invisible characters.", usage=usage, field=field)
    if required and not text:
        raise BadInput(f"Fill in the {what}.", usage=usage, field=field)
    if len(text) > limit:
        raise BadInput(
            f"The {what} is {len(text)} characters long; the limit is {limit}.", usage=usage, field=field
        )
    return text


def refuse_markup(text: str, *, what: str, usage: str | None = None, field: str | None = None) -> str:
    """Text that must not name anyone or link anywhere (a pseudonymous case label): a
    mention, a channel or @here, or a link is refused rather than quietly escaped."""
    if _MARKUP.search(text):
        raise BadInput(
            f"The {what} cannot contain mentions, channel names or links; use a pseudonym.",
            usage=usage,
            field=field,
        )
    return text


class FieldCheck:
    """Collects a modal's field errors, so a form reader reports every problem at once.

    `check(block, read, ...)` returns `read(...)`, or None after noting its BadInput under
    the error's own field (or `block`); `add` notes one directly; `done()` raises them all
    as one FieldErrors.
    """

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def __call__(self, block: str, read: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        try:
            return read(*args, **kwargs)
        except FieldErrors as err:
            for name, message in err.errors.items():
                self.add(name, message)
        except BadInput as err:
            self.add(err.field or block, err.message)
        return None

    def add(self, block: str, message: str) -> None:
        self.errors.setdefault(block, message)  # the first problem per field is the one to fix first

    def failed(self, block: str) -> bool:
        return block in self.errors

    def done(self, *, case_id: int | None = None) -> None:
        if self.errors:
            raise FieldErrors(self.errors, case_id=case_id)


def whole_number(text: str | None) -> int | None:
    """`text` as a whole number in ASCII digits, else None. (`str.isdigit` also accepts
    digits such as "²" that `int` then refuses, so a stray one would become a crash.)"""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_id(raw: Any, *, stale: str) -> int:
    """A record id we put in a button value or a modal's private_metadata. Anything else
    (tampered, or from an older version of the app) is a BadInput saying `stale`; the
    bound keeps it inside the database's 32-bit id columns."""
    value = whole_number(str(raw if raw is not None else ""))
    if value is None or not 0 < value <= MAX_ID:
        raise BadInput(stale)
    return value


def parse_case_ref(token: str, *, usage: str | None) -> int:
    match = _CASE_REF.match(token.strip())
    if not match:
        raise BadInput(f"`{shown(token)}` is not a case id. Case ids look like `C-12`.", usage=usage)
    return int(match.group(1))


def parse_mention(token: str, *, usage: str | None) -> str:
    match = _MENTION.match(token.strip())
    if not match:
        raise BadInput(
            "Name the person with an @-mention (pick them from Slack's list as you type @), "
            "not as plain text.",
            usage=usage,
        )
    return match.group(1)


def parse_role(token: str, *, usage: str | None) -> Role:
    role = _ROLE_ALIASES.get(token.strip().lower())
    if role is None:
        raise BadInput(f"`{shown(token)}` is not a care-team role. {ROLE_HELP}", usage=usage)
    return role


def parse_weekday(token: str, *, usage: str) -> int:
    """`monday` or `mon` (and a few common abbreviations) -> 0 = Monday, as datetime.weekday()."""
    index = _WEEKDAY_NAMES.get(token.strip().lower().rstrip(","))
    if index is None:
        raise BadInput(f"`{shown(token)}` is not a weekday. Use monday … sunday (or mon … sun).", usage=usage)
    return index


def parse_clock_time(token: str, *, usage: str) -> time:
    """`HH:MM` (24-hour), or `9am`, `2:30pm`."""
    match = _TIME.match(token.strip().lower())
    if match is None:
        raise BadInput(f"`{shown(token)}` is not a time. Use 24-hour `HH:MM`, e.g. `14:30`.", usage=usage)
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise BadInput(f"`{shown(token)}` is not a time: with am/pm the hour is 1 to 12.", usage=usage)
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise BadInput(f"`{shown(token)}` is not a time of day (00:00 to 23:59).", usage=usage)
    return time(hour, minute)
