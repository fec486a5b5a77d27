"""The instruments, their bands and the arithmetic of an episode's course. Pure functions;
each rule is stated once, here, and every number shown cites its scale.

- PHQ-9 (0-27): 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe;
  item 9 (thoughts of self-harm) 0-3.
- GAD-7 (0-21): 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
- AUDIT-C (0-12): positive at 4 or more for men, 3 or more for women. CareThread does not
  record sex, so a score of 3 is shown against both thresholds rather than guessed.
- Per episode: baseline (its first score), latest, change from baseline in per cent (a rise
  is shown as worse, never as a negative drop), response (a drop of 50 % or more), remission
  (PHQ-9 under 5), weeks in treatment.
- Collaborative Care's "not improving": after 8 or more weeks in treatment, the latest score
  still >= 10 and less than a 50 % drop from baseline (PHQ-9; GAD-7 the same with 10).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.errors import BadInput
from storage.measures import Instrument

NOT_IMPROVING_AFTER = timedelta(weeks=8)
NOT_IMPROVING_MIN = 10
REMISSION_BELOW = 5  # PHQ-9
ITEM9_MAX = 3
TREND_POINTS = 6

_INTEGER = re.compile(r"^[0-9]{1,3}$")


@dataclass(frozen=True)
class Scale:
    instrument: Instrument
    name: str
    maximum: int
    bands: tuple[tuple[int, str], ...] = ()  # (lowest score of the band, its name), ascending

    def band(self, value: int) -> str:
        """The band a total falls in ("moderate"); AUDIT-C has thresholds, not bands."""
        if self.instrument == Instrument.AUDITC:
            return auditc_result(value)
        name = ""
        for low, band in self.bands:
            if value >= low:
                name = band
        return name


PHQ9 = Scale(
    Instrument.PHQ9,
    "PHQ-9",
    27,
    ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
)
GAD7 = Scale(Instrument.GAD7, "GAD-7", 21, ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")))
AUDITC = Scale(Instrument.AUDITC, "AUDIT-C", 12)
SCALES: dict[str, Scale] = {s.instrument.value: s for s in (PHQ9, GAD7, AUDITC)}
# How people type them in /score.
ALIASES: dict[str, Instrument] = {
    "phq9": Instrument.PHQ9,
    "phq-9": Instrument.PHQ9,
    "gad7": Instrument.GAD7,
    "gad-7": Instrument.GAD7,
    "auditc": Instrument.AUDITC,
    "audit-c": Instrument.AUDITC,
}


def auditc_result(value: int) -> str:
    """AUDIT-C's sex-specific threshold, without guessing the patient's sex."""
    if value >= 4:
        return "positive (threshold 4 for men, 3 for women)"
    if value == 3:
        return "positive for women (threshold 3), negative for men (threshold 4)"
    return "negative (under 3 for women, under 4 for men)"


def parse_score(raw: str | None, scale: Scale, *, field: str | None = None) -> int | None:
    """A total score as typed: empty means not measured; anything else must be a whole
    number in the scale's range, or an error that says the range."""
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


def parse_item9(raw: str | None, *, field: str | None = None) -> int | None:
    """PHQ-9 item 9 as typed in a form: empty, or a whole number from 0 to 3."""
    text = (raw or "").strip()
    if not text:
        return None
    if not _INTEGER.match(text) or int(text) > ITEM9_MAX:
        raise BadInput(f"PHQ-9 item 9 is scored 0 to {ITEM9_MAX} (a whole number).", field=field)
    return int(text)


def trend(values: Sequence[int]) -> str:
    """ "18 → 14 → 12"; a long series keeps its first value: "18 → … → 11 → 10"."""
    if len(values) <= TREND_POINTS:
        return " → ".join(str(v) for v in values)
    return " → ".join([str(values[0]), "…", *(str(v) for v in values[-(TREND_POINTS - 2) :])])


def change_percent(baseline: int, latest: int) -> int | None:
    """Signed change from baseline in whole per cent (positive = higher = worse on these
    scales), rounded half away from zero; None when the baseline is 0."""
    if baseline <= 0:
        return None
    diff = abs(latest - baseline)
    size = (200 * diff + baseline) // (2 * baseline)  # exact, halves rounded up (62.5 -> 63)
    return size if latest >= baseline else -size


def describe_change(baseline: int, latest: int) -> str:
    """The change in words, the direction said outright: a rise is "worse", never "-50 % lower"."""
    if latest == baseline:
        return "no change from baseline"
    percent = change_percent(baseline, latest)
    if latest > baseline:
        size = f"{percent} % " if percent is not None else ""
        return f"{size}higher than baseline {baseline} (worse)"
    return f"{-percent if percent is not None else 0} % lower than baseline {baseline} (better)"


def is_response(baseline: int, latest: int) -> bool:
    """A drop of 50 % or more from baseline (a baseline of 0 cannot drop)."""
    return baseline > 0 and 2 * latest <= baseline


def weeks_between(start: datetime, now: datetime) -> int:
    return max(0, (now - start).days // 7)


def not_improving(*, baseline: int, latest: int, started_at: datetime, now: datetime) -> bool:
    """Collaborative Care's rule on one instrument of one episode (PHQ-9 or GAD-7)."""
    return (
        now - started_at >= NOT_IMPROVING_AFTER
        and latest >= NOT_IMPROVING_MIN
        and 2 * latest > baseline  # less than a 50 % drop from baseline
    )


@dataclass(frozen=True)
class Course:
    """One instrument's course over one episode of care."""

    scale: Scale
    values: tuple[int, ...]  # by date, oldest first
    dates: tuple[date, ...]
    started_at: datetime  # the episode's start
    now: datetime

    @property
    def baseline(self) -> int:
        return self.values[0]

    @property
    def latest(self) -> int:
        return self.values[-1]

    @property
    def last_on(self) -> date:
        return self.dates[-1]

    @property
    def followed_up(self) -> bool:
        """Response and remission need a score after the baseline."""
        return len(self.values) > 1

    @property
    def band(self) -> str:
        return self.scale.band(self.latest)

    @property
    def change(self) -> str:
        return describe_change(self.baseline, self.latest) if self.followed_up else "baseline"

    @property
    def change_percent(self) -> int | None:
        return change_percent(self.baseline, self.latest) if self.followed_up else None

    @property
    def response(self) -> bool:
        return (
            self.followed_up
            and self.scale.instrument != Instrument.AUDITC
            and is_response(self.baseline, self.latest)
        )

    @property
    def remission(self) -> bool:
        return self.followed_up and self.scale.instrument == Instrument.PHQ9 and self.latest < REMISSION_BELOW

    @property
    def weeks(self) -> int:
        return weeks_between(self.started_at, self.now)

    @property
    def not_improving(self) -> bool:
        if self.scale.instrument == Instrument.AUDITC:
            return False
        return not_improving(
            baseline=self.baseline, latest=self.latest, started_at=self.started_at, now=self.now
        )

    @property
    def trend(self) -> str:
        return trend(self.values)

    @property
    def points(self) -> list[tuple[str, int]]:
        """(date taken, value), oldest first."""
        return [(d.isoformat(), v) for d, v in zip(self.dates, self.values, strict=True)]

    def summary(self) -> str:
        """One line citing the scale: "PHQ-9 12/27 moderate · 14 → 12 · 14 % lower than
        baseline 14 (better)"."""
        parts = [f"{self.scale.name} {self.latest}/{self.scale.maximum} {self.band}"]
        if self.followed_up:
            parts += [self.trend, self.change]
        else:
            parts.append("baseline")
        if self.remission:
            parts.append("remission (PHQ-9 under 5)")
        elif self.response:
            parts.append("response (a drop of 50 % or more)")
        return " · ".join(parts)
