"""What the side-effect relay knows about side effects, and when it must chase them.

Pure: the FIBSER wording, the symptom checklist, the plan choices, a report's priority
(shown as "Priority"; stored as `severity`) from the design guide (urgent: any red flag;
high: FIBSER burden 5-6, or intensity 5-6 so that a severe side effect is never shown as
low; moderate: burden 3-4; low: 0-2), the free-text check for red flags named but not
ticked, and the acknowledgement deadlines with their escalation times (configured in
bot/side_effects/settings.py).

A duration is a number and a unit: `m` minutes, `h` hours, `d` days, `bd` business days,
which count only the clinic's working days (CARETHREAD_WORKING_DAYS, default Monday to
Friday, in CARETHREAD_CLINIC_TZ).
The app routes information; nothing here is medical advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from bot.clinic import WorkingHours
from storage.side_effects import Severity

# -- clinical content -------------------------------------------------------------------------


class FibserItem(TypedDict):
    label: str
    question: str
    options: tuple[str, ...]  # the wording of scores 0-6


FIBSER_ITEMS: dict[str, FibserItem] = {
    "frequency": {
        "label": "Frequency (FIBSER)",
        "question": "In the past week, how much of the time were side effects present?",
        "options": (
            "No side effects",
            "10% of the time",
            "25% of the time",
            "50% of the time",
            "75% of the time",
            "90% of the time",
            "Present all the time",
        ),
    },
    "intensity": {
        "label": "Intensity (FIBSER)",
        "question": "In the past week, how severe were the side effects at their worst?",
        "options": ("No side effects", "Trivial", "Mild", "Moderate", "Marked", "Severe", "Intolerable"),
    },
    "burden": {
        "label": "Burden (FIBSER)",
        "question": "In the past week, how much did side effects interfere with day-to-day functioning?",
        "options": (
            "No impairment",
            "Minimal impairment",
            "Mild impairment",
            "Moderate impairment",
            "Marked impairment",
            "Severe impairment",
            "Unable to function",
        ),
    },
}
FIBSER_KEYS = ("frequency", "intensity", "burden")

# Common side effects of psychiatric medications, in two groups (a checkbox group holds 10).
SYMPTOM_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Symptoms: body",
        (
            ("nausea", "Nausea or vomiting"),
            ("bowel", "Diarrhea or constipation"),
            ("headache", "Headache"),
            ("dizziness", "Dizziness"),
            ("dry_mouth", "Dry mouth"),
            ("sweating", "Sweating"),
            ("weight", "Weight gain or increased appetite"),
            ("sexual", "Sexual dysfunction"),
            ("vision", "Blurred vision"),
            ("palpitations", "Palpitations"),
        ),
    ),
    (
        "Symptoms: sleep, mood and movement",
        (
            ("sedation", "Drowsiness or sedation"),
            ("insomnia", "Insomnia"),
            ("fatigue", "Fatigue"),
            ("akathisia", "Restlessness or akathisia"),
            ("tremor", "Tremor"),
            ("stiffness", "Muscle stiffness or slowness"),
            ("anxiety", "Agitation or anxiety"),
            ("blunting", "Emotional blunting"),
            ("cognition", "Confusion or poor concentration"),
            ("rash", "Skin rash"),
        ),
    ),
)
SYMPTOMS: dict[str, str] = {key: label for _, group in SYMPTOM_GROUPS for key, label in group}

PLANS: dict[str, str] = {
    "continue": "Continue and monitor",
    "adjust_dose": "Adjust dose",
    "switch": "Switch medication",
    "stop": "Stop medication",
    "urgent_evaluation": "Urgent evaluation",
}

# Plans that change a medication: they need a note, and offer to record the change
# (bot/medications), linked to the report.
CHANGE_PLANS = frozenset({"adjust_dose", "switch", "stop"})
CHANGE_PLAN_NEEDS_NOTE = (
    "A plan to adjust the dose, switch or stop needs a note for the team: what changes and why."
)

SEVERITY_WORDS: dict[str, str] = {
    Severity.URGENT: "Urgent",
    Severity.HIGH: "High",
    Severity.MODERATE: "Moderate",
    Severity.LOW: "Low",
}
SEVERITY_RANK: dict[str, int] = {
    Severity.URGENT: 0,
    Severity.HIGH: 1,
    Severity.MODERATE: 2,
    Severity.LOW: 3,
}


def severity_of(*, red_flags: Sequence[str], burden: int, intensity: int = 0) -> Severity:
    """The report's priority. The design guide's rule: any red flag is urgent, then FIBSER
    burden decides; an intensity of 5-6 (severe, intolerable) raises it to at least high,
    so nothing that reads severe is shown as low."""
    if red_flags:
        return Severity.URGENT
    if burden >= 5 or intensity >= 5:
        return Severity.HIGH
    if burden >= 3:
        return Severity.MODERATE
    return Severity.LOW


def priority_basis(*, red_flags: Sequence[str], burden: int, intensity: int) -> str:
    """Why a report has its priority, citing the rule behind it (shown next to the word)."""
    if red_flags:
        return "any red flag makes a report urgent"
    if burden >= 5:
        return f"FIBSER burden {burden}/6 (5-6: high)"
    if intensity >= 5:
        return f"FIBSER intensity {intensity}/6 raises it to at least high"
    if burden >= 3:
        return f"FIBSER burden {burden}/6 (3-4: moderate)"
    return f"FIBSER burden {burden}/6 (0-2: low), no red flag"


def red_flag_words_in(texts: Sequence[str | None], words: Sequence[str]) -> list[str]:
    """The configured red-flag words (CARETHREAD_RED_FLAG_WORDS) that free text names, in
    the list's order: a report that names "chest pain" in its notes but ticks no red flag
    must not be silently low. Case-insensitive, from the start of a word (so "rash" is not
    found in "crash", and "suicid" finds "suicidal"); curly apostrophes read as straight."""
    haystack = " ".join(t for t in texts if t).casefold().replace("\u2019", "'")
    return [
        w for w in words if re.search(r"(?<!\w)" + re.escape(w.casefold().replace("\u2019", "'")), haystack)
    ]


# -- deadlines ----------------------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|bd)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "bd": 86400}


@dataclass(frozen=True)
class Span:
    """A deadline length: wall time, or business time that runs on working days only."""

    amount: float
    unit: str  # m | h | d | bd

    @property
    def business(self) -> bool:
        return self.unit == "bd"

    def seconds(self) -> float:
        return self.amount * _UNIT_SECONDS[self.unit]

    def after(
        self, start: datetime, zone: ZoneInfo, working: WorkingHours, *, factor: float = 1.0
    ) -> datetime:
        length = timedelta(seconds=self.seconds() * factor)
        if not self.business:
            return start + length
        return working.add_business_time(start, length, zone)

    def describe(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        names = {"m": "minute", "min": "minute", "h": "hour", "d": "day", "bd": "business day"}
        name = names[self.unit]
        return f"{amount} {name}{'' if amount == 1 else 's'}"


def parse_span(raw: str) -> Span:
    """`15m`, `4h`, `1bd`, `3d`; a ValueError says what to write instead."""
    match = _SPAN.match(raw or "")
    if not match:
        raise ValueError(
            "must be a number and a unit (m, h, d or bd for business days), for example 15m, 4h, 1bd or 3d"
        )
    amount, unit = float(match.group(1)), match.group(2).lower()
    if amount <= 0:
        raise ValueError("must be longer than zero")
    return Span(amount, "m" if unit == "min" else unit)


DEFAULT_DEADLINES: dict[str, str] = {
    Severity.URGENT: "15m",
    Severity.HIGH: "4h",
    Severity.MODERATE: "1bd",
    Severity.LOW: "3d",
}


@dataclass(frozen=True)
class Deadlines:
    """When a report must be acknowledged, and when an unacknowledged one escalates."""

    spans: Mapping[str, Span]
    escalation_fraction: float
    zone: ZoneInfo  # the clinic's: where its working days begin and end
    working: WorkingHours

    def ack_due(self, severity: str, reported_at: datetime) -> datetime:
        return self.spans[severity].after(reported_at, self.zone, self.working)

    def escalate_at(self, severity: str, ack_due: datetime) -> datetime:
        """Step 2: a further fraction of the deadline after it (business-aware for `bd`)."""
        return self.spans[severity].after(ack_due, self.zone, self.working, factor=self.escalation_fraction)

    def describe(self, severity: str) -> str:
        return self.spans[severity].describe()
