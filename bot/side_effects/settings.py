"""Settings for the side-effect relay, validated once at start-up (load_settings) and read as
`deps.settings.section(SideEffectSettings)`: the acknowledgement deadline per severity, when an
unacknowledged report escalates, the red flags that make a report urgent, the words in free
text that name one (so the form asks whether to tick it), the crisis text, and how many days
after a plan that changes a medication the reporter is asked to rate it again.

What a business day is (`bd`) comes from the clinic's working days and time zone
(`settings.clinic`), the same ones that decide when reviews nudge and handoffs remind.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from bot.config import ClinicSettings, EnvSettings, Settings, parsed, whole
from bot.side_effects.policy import DEFAULT_DEADLINES, Deadlines, Span, parse_span
from storage.side_effects import Severity

DEFAULT_RED_FLAGS = (
    "New or worsening suicidal thoughts or behavior",
    "A switch into mania or hypomania",
    "Any rash on lamotrigine",
    "Signs of serotonin toxicity (clonus, agitation, sweating, tremor with hyperreflexia, fever)",
    "Signs of lithium toxicity (vomiting, diarrhea, coarse tremor, confusion, ataxia)",
    "NMS signs on an antipsychotic (rigidity, fever, confusion)",
    "Fever or sore throat on clozapine (neutropenia)",
    "Chest pain, fever or breathlessness on clozapine (myocarditis)",
    "Severe constipation on clozapine",
    "Acute dystonia (sudden muscle spasm of the neck, jaw, tongue or eyes)",
    "Priapism",
    "Angioedema (swelling of the face, lips, tongue or throat)",
    "Jaundice or abdominal pain on valproate",
    "Pregnancy on valproate",
    "Seizure",
    "Fainting",
)
# Words in a report's free text (other symptoms, notes) that name a red flag: if one appears
# and no red flag is ticked, the form asks whether to tick one (bot/side_effects/forms.py).
DEFAULT_RED_FLAG_WORDS = (
    "suicid",
    "kill myself",
    "self-harm",
    "overdose",
    "mania",
    "hypomania",
    "manic",
    "chest pain",
    "breathless",
    "short of breath",
    "rash",
    "fainted",
    "fainting",
    "passed out",
    "seizure",
    "convulsion",
    "can't stop shaking",
    "rigid",
    "high fever",
    "jaundice",
    "yellow skin",
    "swollen tongue",
    "swollen lips",
    "swelling of the face",
    "priapism",
    "erection that won't go away",
    "dystonia",
    "neck spasm",
    "pregnan",
    "severe constipation",
    "confused",
)
DEFAULT_CRISIS_TEXT = (
    "If the patient is in immediate danger, follow your clinic's emergency procedure now: "
    "call emergency services or the crisis line (988 in the US), and stay with the patient "
    "or keep them on the line. Then make sure the prescriber has seen this report."
)

SpanSetting = Annotated[Span, parsed(parse_span)]


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 10:
        raise ValueError(
            "must be a number above 0 and at most 10 (0.5 = escalate half a deadline after the deadline)"
        )
    return value


def _red_flags(raw: str) -> tuple[str, ...]:
    flags = tuple(item.strip() for item in raw.split(";") if item.strip())
    if not flags:
        raise ValueError("must name at least one red flag (separate them with ';')")
    return flags


def _words(raw: str) -> tuple[str, ...]:
    """`;`-separated words; `none` turns the free-text check off."""
    if raw.strip().lower() == "none":
        return ()
    return tuple(item.strip() for item in raw.split(";") if item.strip())


def _deadline(severity: str) -> Any:
    return Field(
        parse_span(DEFAULT_DEADLINES[severity]),
        validation_alias=f"CARETHREAD_SIDEEFFECT_DEADLINE_{severity.upper()}",
    )


class SideEffectSettings(EnvSettings):
    deadline_urgent: SpanSetting = _deadline(Severity.URGENT)
    deadline_high: SpanSetting = _deadline(Severity.HIGH)
    deadline_moderate: SpanSetting = _deadline(Severity.MODERATE)
    deadline_low: SpanSetting = _deadline(Severity.LOW)
    # Step 2 comes this fraction of the deadline after the deadline, in the same units.
    escalation_fraction: Annotated[float, parsed(_fraction)] = Field(
        0.5, validation_alias="CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION"
    )
    red_flags: Annotated[tuple[str, ...], parsed(_red_flags)] = Field(
        DEFAULT_RED_FLAGS, validation_alias="CARETHREAD_RED_FLAGS"
    )
    red_flag_words: Annotated[tuple[str, ...], parsed(_words)] = Field(
        DEFAULT_RED_FLAG_WORDS, validation_alias="CARETHREAD_RED_FLAG_WORDS"
    )
    crisis_text: str = Field(DEFAULT_CRISIS_TEXT, validation_alias="CARETHREAD_CRISIS_TEXT")
    # After a plan to adjust the dose, switch or stop: ask the reporter to rate it again.
    recheck_days: Annotated[int, whole(1, 365)] = Field(
        14, validation_alias="CARETHREAD_SIDEEFFECT_RECHECK_DAYS"
    )

    def deadlines(self, clinic: ClinicSettings) -> Deadlines:
        """The deadlines in the clinic's time: business days are its working days."""
        spans: dict[str, Span] = {
            Severity.URGENT: self.deadline_urgent,
            Severity.HIGH: self.deadline_high,
            Severity.MODERATE: self.deadline_moderate,
            Severity.LOW: self.deadline_low,
        }
        return Deadlines(
            spans=spans,
            escalation_fraction=self.escalation_fraction,
            zone=clinic.zone,
            working=clinic.working_hours,
        )


def deadlines(settings: Settings) -> Deadlines:
    """The relay's deadlines in the clinic's time (both validated at start-up)."""
    return settings.section(SideEffectSettings).deadlines(settings.clinic)
