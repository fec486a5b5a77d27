"""Due-time arithmetic across time zones and daylight-saving changes, working hours, the
PHQ-9 rule, and the review settings read from the environment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clinic import WorkingHours, local_moment, zone
from bot.config import ConfigError
from bot.reviews.cadence import MAX_DAYS, MAX_WEEKS, Cadence, Period, first_due, next_due_after
from bot.reviews.settings import ReviewSettings
from tests.support import make_settings

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
NINE = time(9)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_first_due_on_a_weekday_is_the_next_such_day():
    monday_10 = Cadence(2, Period.WEEKS, weekday=0, at=time(10))
    # Monday 2026-11-23 09:00 in New York: 10:00 today is still ahead.
    assert first_due(monday_10, NY, utc(2026, 11, 23, 14), default_at=NINE) == utc(2026, 11, 23, 15)
    # Monday 11:00 in New York: next Monday.
    assert first_due(monday_10, NY, utc(2026, 11, 23, 16), default_at=NINE) == utc(2026, 11, 30, 15)


def test_first_due_without_a_weekday_is_one_period_from_today_at_the_default_time():
    every_2_weeks = Cadence(2, Period.WEEKS)
    assert first_due(every_2_weeks, NY, utc(2026, 11, 23, 20), default_at=NINE) == utc(2026, 12, 7, 14)
    every_3_days = Cadence(3, Period.DAYS, at=time(7, 30))
    # 23:30 on the 23rd in New York is the 24th in UTC: "today" is the caller's local date.
    assert first_due(every_3_days, NY, utc(2026, 11, 24, 4, 30), default_at=NINE) == utc(2026, 11, 26, 12, 30)


def test_same_command_in_different_zones_means_each_callers_wall_clock():
    cadence = Cadence(1, Period.WEEKS, weekday=2, at=time(9))
    now = utc(2026, 6, 1, 0)
    assert first_due(cadence, NY, now, default_at=NINE) == utc(2026, 6, 3, 13)  # EDT
    assert first_due(cadence, BERLIN, now, default_at=NINE) == utc(2026, 6, 3, 7)  # CEST
    assert first_due(cadence, KOLKATA, now, default_at=NINE) == utc(2026, 6, 3, 3, 30)  # IST
    assert first_due(cadence, SYDNEY, now, default_at=NINE) == utc(2026, 6, 2, 23)  # AEST


def test_weekly_review_keeps_local_time_across_autumn_dst_change():
    sunday_10 = Cadence(1, Period.WEEKS, weekday=6, at=time(10))
    first = first_due(sunday_10, NY, utc(2026, 10, 20), default_at=NINE)
    assert first == utc(2026, 10, 25, 14)  # 10:00 EDT
    second, missed = next_due_after(sunday_10, NY, first, first, default_at=NINE)
    assert second == utc(2026, 11, 1, 15) and missed == 0  # 10:00 EST: clocks went back that night
    assert second.astimezone(NY).hour == 10
    third, _ = next_due_after(sunday_10, NY, second, second, default_at=NINE)
    assert third == utc(2026, 11, 8, 15)


def test_spring_dst_change_in_both_hemispheres():
    weekly = Cadence(1, Period.WEEKS, weekday=0, at=time(9))
    # Europe moves to summer time on 2026-03-29: 09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC.
    due, _ = next_due_after(weekly, BERLIN, utc(2026, 3, 23, 8), utc(2026, 3, 23, 8), default_at=NINE)
    assert due == utc(2026, 3, 30, 7)
    # Sydney leaves summer time on 2026-04-05: 09:00 AEDT is 22:00 UTC the day before, AEST 23:00.
    due, _ = next_due_after(weekly, SYDNEY, utc(2026, 3, 29, 22), utc(2026, 3, 29, 22), default_at=NINE)
    assert due == utc(2026, 4, 5, 23)


def test_a_time_skipped_by_dst_comes_an_hour_later_that_day():
    daily_0230 = Cadence(1, Period.DAYS, at=time(2, 30))
    # New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist that night.
    due, _ = next_due_after(daily_0230, NY, utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 8), default_at=NINE)
    assert due.astimezone(NY).date().isoformat() == "2026-03-08"
    assert due.astimezone(NY).time() == time(3, 30)
    following, _ = next_due_after(daily_0230, NY, due, due, default_at=NINE)
    assert following.astimezone(NY).time() == time(2, 30)


def test_catch_up_after_downtime_jumps_to_the_next_future_slot_once():
    weekly = Cadence(1, Period.WEEKS, weekday=0, at=time(10))
    due = utc(2026, 11, 2, 15)  # Monday 10:00 EST
    now = due + timedelta(weeks=5, hours=3)
    following, missed = next_due_after(weekly, NY, due, now, default_at=NINE)
    assert following == utc(2026, 12, 14, 15) and missed == 5
    # Exactly at a slot: that slot is not "after now", the next one is.
    following, missed = next_due_after(weekly, NY, due, utc(2026, 11, 9, 15), default_at=NINE)
    assert following == utc(2026, 11, 16, 15) and missed == 1


ZONES = [
    NY,
    BERLIN,
    SYDNEY,
    KOLKATA,
    ZoneInfo("UTC"),
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("Pacific/Chatham"),
]


@given(
    every=st.integers(1, 8),
    period=st.sampled_from(list(Period)),
    weekday=st.integers(0, 6),
    at=st.times().map(lambda t: time(t.hour, t.minute)),
    tz=st.sampled_from(ZONES),
    start=st.datetimes(datetime(2025, 1, 1), datetime(2030, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)),
    gap=st.timedeltas(timedelta(0), timedelta(days=400)),
)
def test_next_due_properties(every, period, weekday, at, tz, start, gap):
    cadence = Cadence(every, period, weekday if period == Period.WEEKS else None, at)
    previous = first_due(cadence, tz, start, default_at=NINE)
    assert previous > start
    now = previous + gap
    following, missed = next_due_after(cadence, tz, previous, now, default_at=NINE)
    assert following > now and missed >= 0
    step = cadence.step_days
    days = (following.astimezone(tz).date() - previous.astimezone(tz).date()).days
    assert days % step == 0 and days // step == missed + 1
    # The slot before it was not after now: nothing in the future was skipped.
    earlier = following.astimezone(tz).date() - timedelta(days=step)
    assert days == step or local_moment(earlier, at, tz) <= now
    local = following.astimezone(tz)
    if cadence.weekday is not None:
        assert local.weekday() == cadence.weekday
    # The wall-clock time is kept, unless that time did not exist that day (then it is later).
    if local_moment(local.date(), at, tz).astimezone(tz).time() == at:
        assert local.time() == at


# -- the rrule-based cadence against the hand-written arithmetic it replaced -------------------
#
# bot.reviews.cadence now builds its grids with dateutil.rrule. The functions below are the
# date arithmetic it used before, kept verbatim as the reference oracle: the property test
# drives both through daylight-saving changes and requires every due moment to agree.


def oracle_first_due(cadence: Cadence, tz: ZoneInfo, now: datetime, *, default_at: time) -> datetime:
    """REFERENCE ORACLE: first_due as it was before dateutil.rrule (do not change)."""
    at = cadence.at or default_at
    today = now.astimezone(tz).date()
    if cadence.weekday is not None:
        day = today + timedelta(days=(cadence.weekday - today.weekday()) % 7)
        while local_moment(day, at, tz) <= now:
            day += timedelta(days=7)
        return local_moment(day, at, tz)
    return local_moment(today + timedelta(days=cadence.step_days), at, tz)


def oracle_next_due_after(
    cadence: Cadence, tz: ZoneInfo, previous: datetime, now: datetime, *, default_at: time
) -> tuple[datetime, int]:
    """REFERENCE ORACLE: next_due_after as it was before dateutil.rrule (do not change)."""
    at = cadence.at or default_at
    step = cadence.step_days
    start = previous.astimezone(tz).date()
    today = now.astimezone(tz).date()
    periods = max(1, (today - start).days // step)
    day = start + timedelta(days=periods * step)
    while local_moment(day, at, tz) <= now:
        periods += 1
        day += timedelta(days=step)
    return local_moment(day, at, tz), periods - 1


DST_ZONES = [NY, ZoneInfo("Europe/London"), SYDNEY, ZoneInfo("UTC")]


def _offset_changes(tz: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """Every UTC instant in those years at which `tz` changes its offset (found hour by hour)."""
    changes = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment.year <= last_year:
        moment += timedelta(hours=1)
        if moment.astimezone(tz).utcoffset() != offset:
            changes.append(moment)
            offset = moment.astimezone(tz).utcoffset()
    return changes


#: Each zone's spring-forward gaps and fall-back folds, 2025 to 2028 (none for UTC).
DST_CHANGES = {tz: _offset_changes(tz, 2025, 2028) for tz in DST_ZONES}
ANY_CHANGE = sorted(change for changes in DST_CHANGES.values() for change in changes)

#: Wall-clock times that fall in (or next to) a gap or a fold in those zones, and ordinary ones.
around_changes = st.sampled_from([time(0), time(0, 30), time(1), time(1, 30), time(2), time(2, 30), time(3)])
wall_times = around_changes | st.builds(time, st.integers(0, 23), st.integers(0, 59))

#: Minutes from a change: mostly within hours of it (inside a gap or a fold), else weeks before.
near = st.integers(-180, 180) | st.integers(-60 * 24 * 35, 60 * 24 * 3)


@st.composite
def cadences(draw) -> Cadence:
    period = draw(st.sampled_from(list(Period)))
    every = draw(st.integers(1, 3) | st.integers(1, MAX_WEEKS if period == Period.WEEKS else MAX_DAYS))
    weekday = draw(st.none() | st.integers(0, 6)) if period == Period.WEEKS else None
    return Cadence(every, period, weekday, draw(st.none() | wall_times))


def _next_change(tz: ZoneInfo, after: datetime) -> datetime | None:
    return next((change for change in DST_CHANGES[tz] if change > after), None)


@settings(max_examples=500, deadline=None)
@given(
    cadence=cadences(),
    tz=st.sampled_from(DST_ZONES),
    start_change=st.sampled_from(ANY_CHANGE),
    start_offset=near,
    default_at=wall_times,
    firings=st.lists(st.tuples(st.booleans(), st.integers(0, 60 * 24 * 21), near), min_size=1, max_size=6),
)
def test_rrule_cadence_agrees_with_the_reference_oracle_across_dst(
    cadence, tz, start_change, start_offset, default_at, firings
):
    """Set a cadence near a daylight-saving change, then fire it several times, each time either
    minutes to weeks after it came due (catching up on missed periods) or close to the zone's
    next change (inside a gap or a fold): the rrule implementation and the oracle give the same
    due moment and the same count of missed periods at every step."""
    start = start_change + timedelta(minutes=start_offset)
    due = first_due(cadence, tz, start, default_at=default_at)
    assert due == oracle_first_due(cadence, tz, start, default_at=default_at)
    for by_the_change, late, from_change in firings:
        now = due + timedelta(minutes=late)
        change = _next_change(tz, due - timedelta(hours=3))
        if by_the_change and change is not None:
            now = max(due, change + timedelta(minutes=from_change))
        following = next_due_after(cadence, tz, due, now, default_at=default_at)
        assert following == oracle_next_due_after(cadence, tz, due, now, default_at=default_at)
        due = following[0]


@settings(max_examples=500, deadline=None)
@given(
    cadence=cadences(),
    change=st.sampled_from([(tz, change) for tz in DST_ZONES for change in DST_CHANGES[tz]]),
    minutes=st.integers(-180, 180),
    default_at=wall_times,
)
def test_rrule_cadence_agrees_with_the_reference_oracle_inside_gaps_and_folds(
    cadence, change, minutes, default_at
):
    """The last due moment was one period before the day of a change, and now is within three
    hours of it: whether a slot skipped by the gap or repeated by the fold is still ahead is
    decided by the instant, and both implementations must decide it the same way."""
    tz, at_change = change
    at = cadence.at or default_at
    previous = local_moment(at_change.astimezone(tz).date() - timedelta(days=cadence.step_days), at, tz)
    now = max(previous, at_change + timedelta(minutes=minutes))
    expected = oracle_next_due_after(cadence, tz, previous, now, default_at=default_at)
    assert next_due_after(cadence, tz, previous, now, default_at=default_at) == expected
    assert first_due(cadence, tz, now, default_at=default_at) == oracle_first_due(
        cadence, tz, now, default_at=default_at
    )


def test_working_hours():
    hours = WorkingHours(time(9), time(17), frozenset(range(5)))
    friday_1730 = datetime(2026, 11, 27, 17, 30, tzinfo=NY)
    assert not hours.contains(friday_1730, NY)
    assert hours.next_open(friday_1730, NY) == datetime(2026, 11, 30, 9, tzinfo=NY)
    wednesday_8 = datetime(2026, 11, 25, 8, tzinfo=NY)
    assert hours.next_open(wednesday_8, NY) == datetime(2026, 11, 25, 9, tzinfo=NY)
    inside = datetime(2026, 11, 25, 16, 59, tzinfo=NY)
    assert hours.next_open(inside, NY) == inside
    # The same instant is Thursday 06:59 in Tokyo: not yet working hours there.
    tokyo = ZoneInfo("Asia/Tokyo")
    assert hours.next_open(inside, tokyo) == datetime(2026, 11, 26, 9, tzinfo=tokyo)
    assert hours.describe() == "09:00-17:00, Mon, Tue, Wed, Thu, Fri"


def test_unknown_zone_falls_back():
    assert zone("Mars/Olympus", "Europe/Berlin").key == "Europe/Berlin"
    assert zone(None, "nope").key == "UTC"


def test_review_settings_defaults_and_overrides(tmp_path):
    loaded = make_settings(tmp_path)
    defaults = loaded.section(ReviewSettings)
    assert defaults.default_cadence == Cadence(2, Period.WEEKS)
    assert defaults.default_at == time(9) and loaded.clinic.tz == "UTC"
    assert defaults.nudge_after == timedelta(hours=48)
    assert loaded.clinic.working_hours == WorkingHours(time(9), time(17), frozenset(range(5)))
    assert defaults.digest is not None and defaults.digest.weekday == 0 and defaults.digest.at == time(8)
    assert defaults.digest_channel is None

    loaded = make_settings(
        tmp_path,
        CARETHREAD_DEFAULT_REVIEW_EVERY="1 week on thursday at 14:00",
        CARETHREAD_WORKING_HOURS="08:30-18:00",
        CARETHREAD_WORKING_DAYS="sun-thu",
        CARETHREAD_REVIEW_NUDGE_HOURS="24",
        CARETHREAD_DIGEST_DAY="off",
        CARETHREAD_FALLBACK_TZ="Asia/Jerusalem",  # the older name of CARETHREAD_CLINIC_TZ
    )
    custom = loaded.section(ReviewSettings)
    assert custom.default_cadence == Cadence(1, Period.WEEKS, 3, time(14))
    assert loaded.clinic.working_hours.days == frozenset({6, 0, 1, 2, 3})
    assert loaded.clinic.working_hours.start == time(8, 30) and custom.nudge_after == timedelta(hours=24)
    assert custom.digest is None and loaded.clinic.tz == "Asia/Jerusalem"
    off = make_settings(tmp_path, CARETHREAD_DEFAULT_REVIEW_EVERY="off")
    assert off.section(ReviewSettings).default_cadence is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CARETHREAD_DEFAULT_REVIEW_EVERY", "fortnightly"),
        ("CARETHREAD_WORKING_HOURS", "17:00-09:00"),
        ("CARETHREAD_WORKING_HOURS", "nine to five"),
        ("CARETHREAD_WORKING_DAYS", "weekdays"),
        ("CARETHREAD_REVIEW_NUDGE_HOURS", "soon"),
        ("CARETHREAD_CLINIC_TZ", "Mars/Olympus"),
        ("CARETHREAD_FALLBACK_TZ", "Mars/Olympus"),
        ("CARETHREAD_DIGEST_DAY", "someday"),
        ("CARETHREAD_DIGEST_TIME", "25:00"),
        ("CARETHREAD_DIGEST_CHANNEL", "#care-team"),
    ],
)
def test_bad_review_settings_stop_start_up_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **{name: value})
    assert name in str(caught.value)
