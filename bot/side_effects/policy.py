"""What the side-effect relay knows about side effects, and when it must chase them.

Pure: the FIBSER wording, the symptom checklist, the plan choices, severity from the
design guide (urgent: any red flag; high: burden 5-6; moderate: 3-4; low: 0-2), and the
acknowledgement deadlines with their escalation times, configurable from the environment:

    CARETHREAD_SIDEEFFECT_DEADLINE_URGENT    default 15m
    CARETHREAD_SIDEEFFECT_DEADLINE_HIGH      default 4h
    CARETHREAD_SIDEEFFECT_DEADLINE_MODERATE  default 1bd   (business days: Sat/Sun skipped)
    CARETHREAD_SIDEEFFECT_DEADLINE_LOW       default 3d
    CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION default 0.5 (step 2 comes this fraction of the
                                             deadline after the deadline, in the same units)
    CARETHREAD_SIDEEFFECT_TIMEZONE           default UTC  (where the weekend is, for `bd`)

A duration is a number and a unit: `m` minutes, `h` hours, `d` days, `bd` business days.
The app routes information; nothing here is medical advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import ConfigError, Settings
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
            ("bowel", "Diarrhoea or constipation"),
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


def severity_of(*, red_flags: Sequence[str], burden: int) -> Severity:
    """The design guide's rule: any red flag is urgent, then FIBSER burden decides."""
    if red_flags:
        return Severity.URGENT
    if burden >= 5:
        return Severity.HIGH
    if burden >= 3:
        return Severity.MODERATE
    return Severity.LOW


# -- deadlines ----------------------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|bd)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "bd": 86400}


@dataclass(frozen=True)
class Span:
    """A deadline length: wall time, or business time that does not run on Sat/Sun."""

    amount: float
    unit: str  # m | h | d | bd

    @property
    def business(self) -> bool:
        return self.unit == "bd"

    def seconds(self) -> float:
        return self.amount * _UNIT_SECONDS[self.unit]

    def after(self, start: datetime, zone: ZoneInfo, *, factor: float = 1.0) -> datetime:
        length = timedelta(seconds=self.seconds() * factor)
        if not self.business:
            return start + length
        return add_business_time(start, length, zone)

    def describe(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        names = {"m": "minute", "min": "minute", "h": "hour", "d": "day", "bd": "business day"}
        name = names[self.unit]
        return f"{amount} {name}{'' if amount == 1 else 's'}"


def parse_span(raw: str, *, setting: str) -> Span:
    match = _SPAN.match(raw or "")
    if not match:
        raise ConfigError(
            f"{setting} must be a number and a unit (m, h, d or bd for business days), "
            f"for example 15m, 4h, 1bd or 3d; got {raw!r}."
        )
    amount, unit = float(match.group(1)), match.group(2).lower()
    if amount <= 0:
        raise ConfigError(f"{setting} must be longer than zero, got {raw!r}.")
    return Span(amount, "m" if unit == "min" else unit)


def add_business_time(start: datetime, length: timedelta, zone: ZoneInfo) -> datetime:
    """`start + length`, counting only Monday-Friday (in `zone`): a day's worth of business
    time that starts on Friday afternoon ends on Monday afternoon."""
    remaining = length
    local = start.astimezone(zone)
    while True:
        if local.weekday() >= 5:  # Saturday or Sunday: the clock resumes on Monday at 00:00
            monday = local.date() + timedelta(days=7 - local.weekday())
            local = datetime.combine(monday, time(0), tzinfo=zone)
            continue
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        left_today = midnight.astimezone(UTC) - local.astimezone(UTC)
        if remaining <= left_today:
            return (local.astimezone(UTC) + remaining).astimezone(start.tzinfo or UTC)
        remaining -= left_today
        local = midnight


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
    zone: ZoneInfo

    def ack_due(self, severity: str, reported_at: datetime) -> datetime:
        return self.spans[severity].after(reported_at, self.zone)

    def escalate_at(self, severity: str, ack_due: datetime) -> datetime:
        """Step 2: a further fraction of the deadline after it (business-aware for `bd`)."""
        return self.spans[severity].after(ack_due, self.zone, factor=self.escalation_fraction)

    def describe(self, severity: str) -> str:
        return self.spans[severity].describe()


_SETTING_NAMES = (
    *(f"CARETHREAD_SIDEEFFECT_DEADLINE_{severity.upper()}" for severity in DEFAULT_DEADLINES),
    "CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION",
    "CARETHREAD_SIDEEFFECT_TIMEZONE",
)
_CACHE: dict[tuple[str, ...], Deadlines] = {}


def deadlines_for(settings: Settings) -> Deadlines:
    """Parsed once per distinct configuration; a bad value is a ConfigError at start-up
    (handlers/side_effects.py asks for it while the app is being built)."""
    key = tuple((settings.extra.get(name) or "").strip() for name in _SETTING_NAMES)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    extra = settings.extra
    spans = {}
    for severity, default in DEFAULT_DEADLINES.items():
        name = f"CARETHREAD_SIDEEFFECT_DEADLINE_{severity.upper()}"
        spans[severity] = parse_span((extra.get(name) or "").strip() or default, setting=name)
    fraction_raw = (extra.get("CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION") or "").strip() or "0.5"
    try:
        fraction = float(fraction_raw)
    except ValueError:
        fraction = -1.0
    if not 0 < fraction <= 10:
        raise ConfigError(
            "CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION must be a number above 0 and at most 10 "
            f"(0.5 = escalate half a deadline after the deadline); got {fraction_raw!r}."
        )
    zone_name = (extra.get("CARETHREAD_SIDEEFFECT_TIMEZONE") or "").strip() or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"CARETHREAD_SIDEEFFECT_TIMEZONE must be an IANA time zone such as America/New_York; "
            f"got {zone_name!r}."
        ) from None
    deadlines = Deadlines(spans=spans, escalation_fraction=fraction, zone=zone)
    _CACHE[key] = deadlines
    return deadlines
