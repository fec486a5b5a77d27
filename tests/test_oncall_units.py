"""Parsing `/oncall` and `/safety`, and the on-call routing rule's working-hours arithmetic:
pure functions, no Slack."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.clinic import WorkingHours
from bot.errors import BadInput
from bot.inputs import Help
from bot.oncall.commands import AddShift, ListShifts, RemoveShift, parse_oncall_command
from bot.oncall.service import item_ref
from bot.safety.commands import OpenSafetyForm, parse_safety_command

PARIS = ZoneInfo("Europe/Paris")


def test_a_shift_is_read_in_the_clinics_zone():
    parsed = parse_oncall_command("<@U0DAN|dan> from 2026-11-28 18:00 to 2026-11-30 8am", zone=PARIS)
    assert parsed == AddShift(
        "U0DAN", datetime(2026, 11, 28, 17, 0, tzinfo=UTC), datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    )


def test_a_shift_across_the_autumn_clock_change_keeps_wall_clock_times():
    parsed = parse_oncall_command("<@U0DAN> from 2026-10-24 18:00 to 2026-10-25 18:00", zone=PARIS)
    assert isinstance(parsed, AddShift)
    assert (parsed.ends_at - parsed.starts_at).total_seconds() == 25 * 3600


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("list", ListShifts()),
        ("remove OC-3", RemoveShift(3)),
        ("remove 4", RemoveShift(4)),
    ],
)
def test_the_other_forms(text, expected):
    assert parse_oncall_command(text, zone=PARIS) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("dan from 2026-11-28 18:00 to 2026-11-29 08:00", "@-mention"),
        ("<@U0DAN> 2026-11-28 18:00 2026-11-29 08:00", "`from` a date"),
        ("<@U0DAN> from 28/11/2026 18:00 to 2026-11-29 08:00", "not a date"),
        ("<@U0DAN> from 2026-02-30 18:00 to 2026-03-02 08:00", "not a date"),
        ("<@U0DAN> from 9999-12-31 18:00 to 9999-12-31 20:00", "outside the years"),
        ("<@U0DAN> from 0001-01-01 01:00 to 0001-01-01 02:00", "outside the years"),
        ("<@U0DAN> from 2026-11-28 25:00 to 2026-11-29 08:00", "not a time"),
        ("<@U0DAN> from 2026-11-29 08:00 to 2026-11-28 18:00", "end after it starts"),
        ("<@U0DAN> from 2026-11-01 08:00 to 2026-12-15 08:00", "at most 31 days"),
        ("remove", "Name the shift"),
        ("remove SR-3", "not a shift id"),
    ],
)
def test_bad_commands_say_what_to_write(text, says):
    with pytest.raises(BadInput) as err:
        parse_oncall_command(text, zone=PARIS)
    assert says in err.value.message


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_never_crashes(text):
    with contextlib.suppress(BadInput):
        parse_oncall_command(text, zone=PARIS)
    with contextlib.suppress(BadInput):
        parse_safety_command(text)


def test_safety_command():
    assert parse_safety_command("C-12") == OpenSafetyForm(12)
    assert parse_safety_command("") == Help()
    with pytest.raises(BadInput):
        parse_safety_command("twelve")


def test_after_hours_is_the_clinics_working_hours_in_its_zone():
    hours = WorkingHours(time(9), time(17), frozenset(range(5)))
    assert hours.contains(datetime(2026, 11, 23, 15, 0, tzinfo=UTC), PARIS)  # Monday 16:00 Paris
    assert not hours.contains(datetime(2026, 11, 23, 16, 30, tzinfo=UTC), PARIS)  # 17:30 Paris
    assert not hours.contains(datetime(2026, 11, 28, 12, 0, tzinfo=UTC), PARIS)  # Saturday


def test_item_refs_are_what_people_see():
    assert item_ref("side_effect:12") == "SE-12" and item_ref("safety:3") == "SR-3"
    assert item_ref("item9:4") == "A-4" and item_ref("adherence:5") == "AD-5"


def test_edge_dates_west_of_utc_are_refused_not_overflowed():
    """9999-12-31 evening in New York is past datetime.max in UTC: refused, never an OverflowError."""
    with pytest.raises(BadInput) as err:
        parse_oncall_command(
            "<@U0DAN> from 9999-12-31 18:00 to 9999-12-31 23:00", zone=ZoneInfo("America/New_York")
        )
    assert "outside the years" in err.value.message
