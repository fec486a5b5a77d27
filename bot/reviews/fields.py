"""What each care-team role is asked at a case review, defined once.

The update modal, the form reader and the update posted in the case thread all walk
these definitions, so adding a question is one line here (and its BlockId).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.ids import BlockId
from storage.cases import Role

MAX_NOTE = 1500
MAX_SESSIONS = 60


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    SELECT = "select"


@dataclass(frozen=True)
class UpdateField:
    block: BlockId
    label: str
    kind: Kind = Kind.TEXT
    hint: str | None = None
    maximum: int | None = None  # numbers
    options: tuple[tuple[str, str], ...] = ()  # selects: (value, shown)

    @property
    def what(self) -> str:
        return self.label[0].lower() + self.label[1:]

    @property
    def select_options(self) -> list[dict[str, Any]]:
        """Block Kit options of a select (built here, so the template inserts them as JSON)."""
        return [
            {"text": {"type": "plain_text", "text": shown}, "value": value} for value, shown in self.options
        ]


ADHERENCE = (
    ("good", "Taking as prescribed"),
    ("partial", "Some missed doses"),
    ("poor", "Mostly not taking"),
    ("unknown", "Not known"),
)

THERAPIST_FIELDS = (
    UpdateField(
        BlockId.REVIEW_SESSIONS,
        "Sessions attended",
        Kind.NUMBER,
        hint="Since the last review",
        maximum=MAX_SESSIONS,
    ),
    UpdateField(BlockId.REVIEW_PROGRESS, "Progress"),
    UpdateField(BlockId.REVIEW_CONCERNS, "Concerns"),
)
PRESCRIBER_FIELDS = (
    UpdateField(BlockId.REVIEW_REGIMEN, "Current regimen", hint="Medications, doses and schedule"),
    UpdateField(BlockId.REVIEW_ADHERENCE, "Adherence", Kind.SELECT, options=ADHERENCE),
    UpdateField(BlockId.REVIEW_CHANGES, "Changes made", hint="Since the last review"),
)
CASE_MANAGER_FIELDS = (
    UpdateField(
        BlockId.REVIEW_SOCIAL_NEEDS, "Social needs", hint="Housing, income, food, transport, support"
    ),
    UpdateField(BlockId.REVIEW_BARRIERS, "Barriers", hint="What stands in the way of care"),
)
GENERAL_FIELDS = (UpdateField(BlockId.REVIEW_GENERAL, "Update"),)

ROLE_FIELDS: dict[str, tuple[UpdateField, ...]] = {
    Role.THERAPIST: THERAPIST_FIELDS,
    Role.PRESCRIBER: PRESCRIBER_FIELDS,
    Role.CASE_MANAGER: CASE_MANAGER_FIELDS,
}
ALL_FIELDS = (*THERAPIST_FIELDS, *PRESCRIBER_FIELDS, *CASE_MANAGER_FIELDS, *GENERAL_FIELDS)
BY_BLOCK = {f.block.value: f for f in ALL_FIELDS}


def fields_for(role: str | None) -> tuple[UpdateField, ...]:
    return ROLE_FIELDS.get(role or "", GENERAL_FIELDS)


def shown_value(field: UpdateField, value: str) -> str:
    """A stored answer as people read it (a select's label rather than its value)."""
    if field.kind == Kind.SELECT:
        return dict(field.options).get(value, value)
    return value


class Decision(StrEnum):
    CONTINUE = "continue"
    ADJUST = "adjust"
    STEP_UP = "step-up"
    DISCHARGE = "discharge"

    @property
    def display(self) -> str:
        return DECISION_TITLES[self]


DECISION_TITLES = {
    Decision.CONTINUE: "Continue current plan",
    Decision.ADJUST: "Adjust treatment",
    Decision.STEP_UP: "Step up care",
    Decision.DISCHARGE: "Discharge / close the case",
}


# The roles that own the treatment plan record the team's decision (issue 14); the others
# (primary care, pharmacist, consultant) contribute updates.
DECIDING_ROLES = frozenset({Role.PRESCRIBER.value, Role.THERAPIST.value, Role.CASE_MANAGER.value})
MAX_PLAN_PART = 1000


@dataclass(frozen=True)
class RelapsePlan:
    """What a discharge leaves behind: the warning signs of relapse, how long to continue
    medication, and whom to call. Stored encrypted as one JSON object on the review."""

    warning_signs: str
    medication: str
    contacts: str


PLAN_PARTS = (
    (BlockId.REVIEW_PLAN_WARNING_SIGNS, "warning_signs", "Warning signs"),
    (BlockId.REVIEW_PLAN_MEDICATION, "medication", "How long to continue medication"),
    (BlockId.REVIEW_PLAN_CONTACTS, "contacts", "Whom to call"),
)


def decision_options() -> list[dict[str, Any]]:
    """Block Kit options of the decision select, in the order teams weigh them."""
    return [
        {"text": {"type": "plain_text", "text": title}, "value": d.value}
        for d, title in DECISION_TITLES.items()
    ]
