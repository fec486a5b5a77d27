"""`/case med ...` text into typed commands. Pure functions, no I/O.

A medication name may have several words: quoted in the command (`"lithium carbonate ER"`,
straight or curly quotes), or the first word when unquoted. A command that has everything
a change needs is done at once; one that lacks details opens the medication form, prefilled
with what was typed. Stopping always opens the form, because a stop needs a taper plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadInput
from bot.inputs import clean_text, parse_case_ref, shown

MAX_MED_NAME = 80
MAX_MED_DETAIL = 200
VERBS = ("add", "change", "stop")
MED_USAGE = (
    "`/case med <case> add <name> [dose and schedule]`, `/case med <case> change <name> <new dose and "
    'schedule>` or `/case med <case> stop <name>`; quote a name of several words (`"lithium carbonate '
    'ER"`); leave out the details to get the form'
)
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d"}


@dataclass(frozen=True)
class AddMedication:
    case_id: int
    name: str
    detail: str | None


@dataclass(frozen=True)
class ChangeMedication:
    case_id: int
    name: str
    detail: str


@dataclass(frozen=True)
class MedicationForm:
    """Open the medication form for `verb`, prefilled with what the command gave."""

    case_id: int
    verb: str  # add | change | stop
    name: str | None = None
    detail: str | None = None


MedCommand = AddMedication | ChangeMedication | MedicationForm


def parse_med_command(text: str) -> MedCommand:
    """`<case> <verb> [name] [dose and schedule]` (the words after `/case med`)."""
    usage = MED_USAGE
    head = text.split(None, 2)
    if len(head) < 2:
        raise BadInput("Something is missing from that command.", usage=usage)
    case_id = parse_case_ref(head[0], usage=usage)
    verb = head[1].lower()
    if verb not in VERBS:
        raise BadInput(
            f"`{shown(verb)}` is not a medication action; use `add`, `change` or `stop`.", usage=usage
        )
    rest = head[2] if len(head) > 2 else ""
    if not rest.strip():
        return MedicationForm(case_id, verb)
    name, detail = read_medication(rest, usage=usage)
    if verb == "add":
        return AddMedication(case_id, name, detail)
    if verb == "change" and detail:
        return ChangeMedication(case_id, name, detail)
    return MedicationForm(case_id, verb, name, detail)


def split_name(text: str, *, usage: str | None = None, field: str | None = None) -> tuple[str, str]:
    """(name, the rest): a quoted name of any number of words, or the first word."""
    text = text.strip()
    close = _QUOTES.get(text[:1])
    if close is None:
        name, _, rest = text.partition(" ")
        return name, rest
    end = text.find(close, 1)
    if end < 0 and text[:1] != '"':
        end = text.find('"', 1)
    if end < 0:
        raise BadInput(
            'The medication name has an opening quote but no closing one: `"lithium carbonate ER" 300 mg`.',
            usage=usage,
            field=field,
        )
    return text[1:end], text[end + 1 :]


def read_medication(
    text: str, *, usage: str | None = None, field: str | None = None
) -> tuple[str, str | None]:
    """One medication, `<name> [dose and schedule]`, by the same rules from `/case med` and
    each line of the New case form."""
    line = clean_text(
        text, what="medication line", limit=MAX_MED_NAME + 3 + MAX_MED_DETAIL, usage=usage, field=field
    )
    raw_name, detail = split_name(line, usage=usage, field=field)
    name = read_name(raw_name, usage=usage, field=field)
    return name, read_detail(detail, usage=usage, field=field) or None


def read_name(text: str, *, usage: str | None = None, field: str | None = None) -> str:
    name = clean_text(text, what="medication name", limit=MAX_MED_NAME, usage=usage, field=field)
    if not name:
        raise BadInput("Name the medication, then its dose and schedule.", usage=usage, field=field)
    return name


def read_detail(text: str, *, usage: str | None = None, field: str | None = None) -> str:
    return clean_text(text, what="dose and schedule", limit=MAX_MED_DETAIL, usage=usage, field=field)
