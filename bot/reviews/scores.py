"""Measurement-based care: PHQ-9 and GAD-7 totals, their trend, and Collaborative Care's
"not improving" rule. Pure functions; the rule is stated once, here.

The rule: after 8 or more weeks in treatment, PHQ-9 still >= 10 and less than a 50 % drop
from the first score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import BadInput

PHQ9_MAX = 27
GAD7_MAX = 21
NOT_IMPROVING_AFTER = timedelta(weeks=8)
NOT_IMPROVING_MIN_PHQ9 = 10
TREND_POINTS = 6

_INTEGER = re.compile(r"^[0-9]{1,3}$")


@dataclass(frozen=True)
class Scale:
    name: str
    maximum: int


PHQ9 = Scale("PHQ-9", PHQ9_MAX)
GAD7 = Scale("GAD-7", GAD7_MAX)


def parse_score(raw: str | None, scale: Scale, *, field: str) -> int | None:
    """A total score typed into a modal: empty means not measured; anything else must be
    a whole number in the scale's range, or a field error that says the range."""
    text = (raw or "").strip()
    if not text:
        return None
    if not _INTEGER.match(text) or int(text) > scale.maximum:
        raise BadInput(
            f"{scale.name} is a total score from 0 to {scale.maximum} (a whole number); leave it "
            "empty if it was not measured.",
            field=field,
        )
    return int(text)


def trend(values: Sequence[int]) -> str:
    """ "18 → 14 → 12"; a long series keeps its first value: "18 → … → 11 → 10"."""
    if len(values) <= TREND_POINTS:
        return " → ".join(str(v) for v in values)
    return " → ".join([str(values[0]), "…", *(str(v) for v in values[-(TREND_POINTS - 2) :])])


@dataclass(frozen=True)
class Improvement:
    first: int
    latest: int
    weeks_in_treatment: int
    not_improving: bool

    @property
    def drop_percent(self) -> int:
        if self.first <= 0:
            return 0
        return round(100 * (self.first - self.latest) / self.first)


def assess(phq9: Sequence[int], *, in_treatment_since: datetime, now: datetime) -> Improvement | None:
    """The not-improving flag for a case's PHQ-9 series (oldest first); None without scores."""
    if not phq9:
        return None
    first, latest = phq9[0], phq9[-1]
    elapsed = now - in_treatment_since
    flagged = (
        elapsed >= NOT_IMPROVING_AFTER
        and latest >= NOT_IMPROVING_MIN_PHQ9
        and 2 * latest > first  # less than a 50 % drop from the first score
    )
    return Improvement(first, latest, max(0, elapsed.days // 7), flagged)
