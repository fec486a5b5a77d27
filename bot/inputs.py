"""Reading what people type: the one place free text is cleaned and case ids, mentions and
roles, weekdays and times of day are recognised, for every workflow's commands and forms.

Slack sends command text with `&`, `<`, `>` escaped and, with `should_escape: true`,
mentions as `<@U123|name>` (or `<@U123>`). Anything we cannot read becomes a BadInput
carrying the usage line for that command, so the user is told exactly how to fix it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import time

from bot.errors import BadInput
from storage.cases import Role

MAX_COMMAND_TEXT = 2000

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
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_NAMES = {
    **{name: index for index, name in enumerate(WEEKDAYS)},
    **{name[:3]: index for index, name in enumerate(WEEKDAYS)},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
_TIME = re.compile(r"^([0-9]{1,2})(?::([0-9]{2}))?(am|pm)?$")
ROLE_HELP = "Roles: " + ", ".join(f"`{r.value}`" for r in Role) + "."


def shown(token: str) -> str:
    """A token as quoted back in an error reply: at most 20 characters."""
    return token if len(token) <= 20 else token[:20] + "…"


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
        raise BadInput(f"`{shown(token)}` is not a case id. Case ids look like `C-12`.", usage=usage)
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
