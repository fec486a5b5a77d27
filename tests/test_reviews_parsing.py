"""The /review command and cadence parser: examples, bad input with usage, and properties
(Hypothesis) that hold for every input."""

from __future__ import annotations

import itertools
from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BadInput
from bot.inputs import Help
from bot.reviews.cadence import MAX_DAYS, MAX_WEEKS, WEEKDAYS, Cadence, Period
from bot.reviews.commands import (
    REVIEW_USAGE,
    ListReviews,
    SetCadence,
    ShowDigest,
    ShowSchedule,
    StartNow,
    TurnOff,
    parse_cadence,
    parse_clock_time,
    parse_review_command,
)

GOOD = [
    ("", Help()),
    ("help", Help()),
    ("HELP me", Help()),
    ("list", ListReviews()),
    ("digest", ShowDigest()),
    ("digest ALL", ShowDigest(all=True)),
    ("C-12", ShowSchedule(12)),
    ("c12 off", TurnOff(12)),
    ("C-3 NOW", StartNow(3)),
    ("C-1 every 2 weeks", SetCadence(1, Cadence(2, Period.WEEKS))),
    ("C-1 every week", SetCadence(1, Cadence(1, Period.WEEKS))),
    ("C-1 every day at 9am", SetCadence(1, Cadence(1, Period.DAYS, at=time(9)))),
    ("C-1 every 10 days at 14:30", SetCadence(1, Cadence(10, Period.DAYS, at=time(14, 30)))),
    ("C-1 every 2 weeks on Mon at 10:00", SetCadence(1, Cadence(2, Period.WEEKS, 0, time(10)))),
    ("C-1 every 2 wks at 2:15 pm on thursday", SetCadence(1, Cadence(2, Period.WEEKS, 3, time(14, 15)))),
    ("C-1 every 4 weeks on sun at 12am", SetCadence(1, Cadence(4, Period.WEEKS, 6, time(0)))),
    ("C-1   every  1   weeks  on  fri", SetCadence(1, Cadence(1, Period.WEEKS, 4))),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_commands(text, expected):
    assert parse_review_command(text) == expected


BAD = [
    ("frobnicate", "is not a /review command or a case id"),
    ("list mine", "takes nothing else"),
    ("digest everything", "takes nothing, or `all`"),
    ("C-1 off now", "takes nothing else"),
    ("C-1 sometimes", "is not something /review does"),
    ("C-1 every", "Say how often"),
    ("C-1 every 2", "comes `days` or `weeks`, not nothing"),
    ("C-1 every 2 months", "not `months`"),
    ("C-1 every 2weeks", "put a space"),
    ("C-1 every 0 weeks", "from 1 to 52 weeks, not 0"),
    ("C-1 every 53 weeks", "from 1 to 52 weeks, not 53"),
    ("C-1 every 366 days", "from 1 to 365 days, not 366"),
    ("C-1 every 3 days on monday", "goes with weeks"),
    ("C-1 every 2 weeks on funday", "is not a weekday"),
    ("C-1 every 2 weeks on", "needs a weekday"),
    ("C-1 every 2 weeks at", "needs a time"),
    ("C-1 every 2 weeks at 25:00", "not a time of day"),
    ("C-1 every 2 weeks at 10:61", "not a time of day"),
    ("C-1 every 2 weeks at 13pm", "hour is 1 to 12"),
    ("C-1 every 2 weeks at noonish", "is not a time"),
    ("C-1 every 2 weeks at 10:00 at 11:00", "Say `at` once"),
    ("C-1 every 2 weeks on mon on tue", "Say `on` once"),
    ("C-1 every 2 weeks please", "is not part of a cadence"),
    ("x" * 2001, "too long"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_commands_say_what_was_wrong_and_show_usage(text, message):
    with pytest.raises(BadInput) as caught:
        parse_review_command(text)
    assert message in caught.value.message
    assert caught.value.usage in REVIEW_USAGE.values()


cadences = st.builds(
    Cadence,
    every=st.integers(1, MAX_WEEKS),
    period=st.sampled_from(list(Period)),
    weekday=st.none() | st.integers(0, 6),
    at=st.none() | st.times().map(lambda t: time(t.hour, t.minute)),
).filter(lambda c: c.weekday is None or c.period == Period.WEEKS)


@given(cadences)
def test_canonical_text_round_trips(cadence):
    assert parse_cadence(cadence.as_text(), usage="u") == cadence
    assert parse_review_command(f"C-7 {cadence.as_text()}") == SetCadence(7, cadence)


@given(cadences, st.booleans())
def test_clauses_parse_in_either_order_and_any_case(cadence, swap):
    clauses = []
    if cadence.weekday is not None:
        clauses.append(f"on {WEEKDAYS[cadence.weekday].upper()[:3]}")
    if cadence.at is not None:
        clauses.append(f"at {cadence.at:%H:%M}")
    if swap:
        clauses.reverse()
    text = " ".join([f"EVERY {cadence.every} {cadence.period.value.title()}", *clauses])
    assert parse_cadence(text, usage="u") == cadence


@given(st.integers(0, 23), st.integers(0, 59))
def test_clock_times_24h_and_12h_agree(hour, minute):
    assert parse_clock_time(f"{hour:02d}:{minute:02d}", usage="u") == time(hour, minute)
    half = "am" if hour < 12 else "pm"
    twelve = hour % 12 or 12
    assert parse_clock_time(f"{twelve}:{minute:02d}{half}", usage="u") == time(hour, minute)


@given(st.integers(MAX_DAYS + 1, 10**6) | st.integers(-(10**6), 0))
def test_out_of_range_day_counts_are_refused(count):
    with pytest.raises(BadInput) as caught:
        parse_cadence(f"every {count} days", usage="u")
    assert caught.value.usage == "u"


WORDS = [
    "C-1",
    "c-2",
    "every",
    "on",
    "at",
    "2",
    "0",
    "weeks",
    "days",
    "mon",
    "10:00",
    "9pm",
    "off",
    "now",
    "x",
]


@given(st.text(max_size=120) | st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join))
def test_any_text_parses_or_says_what_was_wrong(text):
    try:
        command = parse_review_command(text)
    except BadInput as err:
        assert err.message and err.usage  # a reason and the right usage, never a crash
    else:
        assert isinstance(
            command, Help | ListReviews | ShowDigest | ShowSchedule | SetCadence | TurnOff | StartNow
        )


def test_every_weekday_spelling():
    for index, name in enumerate(WEEKDAYS):
        for spelling in {name, name[:3], name.upper()}:
            assert parse_cadence(f"every week on {spelling}", usage="u").weekday == index
    for spelling, index in itertools.chain([("tues", 1), ("weds", 2), ("thur", 3), ("thurs", 3)]):
        assert parse_cadence(f"every week on {spelling}", usage="u").weekday == index


def test_default_cadence_text_may_leave_out_every():
    assert parse_cadence("2 weeks", usage="u") == Cadence(2, Period.WEEKS)
    assert parse_cadence("1 week on monday at 10:00", usage="u") == Cadence(1, Period.WEEKS, 0, time(10))


def test_describe_reads_naturally():
    assert Cadence(2, Period.WEEKS, 0, time(10)).describe() == "every 2 weeks on Monday at 10:00"
    assert Cadence(1, Period.DAYS).describe() == "every day"
