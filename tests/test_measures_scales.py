"""The score arithmetic and the /score and /registry parsers: exhaustive over every score a
scale allows, and property tests (Hypothesis) for change, response and not improving."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BadInput
from bot.inputs import Help
from bot.measures.commands import (
    RecordScore,
    ShowRegistry,
    ShowScores,
    parse_registry_command,
    parse_score_command,
)
from bot.measures.scales import (
    AUDITC,
    GAD7,
    PHQ9,
    Course,
    auditc_result,
    change_percent,
    describe_change,
    is_response,
    not_improving,
    parse_score,
    trend,
)
from storage.measures import Instrument

START = datetime(2026, 1, 5, 15, tzinfo=UTC)
EIGHT_WEEKS = START + timedelta(weeks=8)

PHQ9_BANDS = ["minimal"] * 5 + ["mild"] * 5 + ["moderate"] * 5 + ["moderately severe"] * 5 + ["severe"] * 8
GAD7_BANDS = ["minimal"] * 5 + ["mild"] * 5 + ["moderate"] * 5 + ["severe"] * 7


def test_every_phq9_and_gad7_total_has_the_issue_band():
    assert [PHQ9.band(v) for v in range(28)] == PHQ9_BANDS
    assert [GAD7.band(v) for v in range(22)] == GAD7_BANDS


def test_auditc_shows_both_thresholds_instead_of_guessing_sex():
    for value in range(13):
        result = auditc_result(value)
        assert AUDITC.band(value) == result
        if value >= 4:
            assert result.startswith("positive") and "4 for men, 3 for women" in result
        elif value == 3:
            assert result == "positive for women (threshold 3), negative for men (threshold 4)"
        else:
            assert result.startswith("negative")


def course(values, *, scale=PHQ9, now=EIGHT_WEEKS) -> Course:
    dates = tuple(date(2026, 1, 5) + timedelta(days=7 * i) for i in range(len(values)))
    return Course(scale=scale, values=tuple(values), dates=dates, started_at=START, now=now)


@pytest.mark.parametrize("scale", [PHQ9, GAD7])
def test_exhaustive_pairs_change_response_not_improving(scale):
    """Every (baseline, latest) pair of the scale: the words say the direction, response is a
    drop of 50 % or more, not improving is 8+ weeks, latest >= 10 and under a 50 % drop."""
    for baseline in range(scale.maximum + 1):
        for latest in range(scale.maximum + 1):
            words = describe_change(baseline, latest)
            assert "-" not in words  # never "-50 % lower"
            if latest > baseline:
                assert words.endswith("(worse)") and "higher" in words
            elif latest < baseline:
                assert words.endswith("(better)") and "lower" in words
            else:
                assert words == "no change from baseline"
            assert is_response(baseline, latest) == (baseline > 0 and latest * 2 <= baseline)
            flagged = not_improving(baseline=baseline, latest=latest, started_at=START, now=EIGHT_WEEKS)
            assert flagged == (latest >= 10 and latest * 2 > baseline)
            assert not not_improving(
                baseline=baseline, latest=latest, started_at=START, now=EIGHT_WEEKS - timedelta(seconds=1)
            )
            c = course([baseline, latest], scale=scale)
            assert c.response == is_response(baseline, latest)
            assert c.remission == (scale is PHQ9 and latest < 5)
            assert c.not_improving == flagged
            assert f"{scale.name} {latest}/{scale.maximum} {scale.band(latest)}" in c.summary()


def test_change_examples_read_right():
    assert describe_change(10, 15) == "50 % higher than baseline 10 (worse)"
    assert describe_change(18, 9) == "50 % lower than baseline 18 (better)"
    assert describe_change(0, 4) == "higher than baseline 0 (worse)"
    assert change_percent(0, 4) is None and change_percent(12, 6) == -50
    assert change_percent(16, 6) == -63 and change_percent(16, 26) == 63  # 62.5 % both ways


@settings(deadline=None)
@given(st.integers(0, 27), st.integers(0, 27), st.integers(0, 200))
def test_properties_of_a_course(baseline, latest, days):
    now = START + timedelta(days=days)
    c = course([baseline, latest], now=now)
    assert c.weeks == days // 7
    assert not (c.response and c.not_improving)  # a response is never "not improving"
    assert not (c.remission and c.not_improving)  # PHQ-9 under 5 is below the flag's 10
    if c.not_improving:
        assert days >= 56 and latest >= 10
    percent = c.change_percent
    if percent is not None:
        exact = 100 * (latest - baseline) / baseline
        assert abs(percent - exact) <= 0.5 and (percent > 0) == (latest > baseline)


@settings(deadline=None)
@given(st.lists(st.integers(0, 27), min_size=1, max_size=30))
def test_a_single_score_is_a_baseline_and_claims_nothing(values):
    c = course(values[:1])
    assert c.change == "baseline" and not c.response and not c.remission
    full = course(values)
    assert full.baseline == values[0] and full.latest == values[-1]
    assert trend(values).split(" → ")[0] == str(values[0])


def test_parse_score_for_forms():
    assert parse_score("", PHQ9, field="f") is None
    assert parse_score(" 27 ", PHQ9, field="f") == 27
    for bad in ("28", "-1", "3.5", "ten", "1e1"):
        with pytest.raises(BadInput) as caught:
            parse_score(bad, PHQ9, field="phq")
        assert caught.value.field == "phq" and "0 to 27" in caught.value.message
    with pytest.raises(BadInput, match="0 to 21"):
        parse_score("22", GAD7, field="gad")
    assert trend([20, 19, 18, 17, 16, 15, 14, 13]) == "20 → … → 16 → 15 → 14 → 13"


def test_score_command_parses_every_form():
    assert parse_score_command("") == Help() and parse_score_command("help") == Help()
    assert parse_score_command("C-3") == ShowScores(3)
    assert parse_score_command("C-3 phq9 14") == RecordScore(3, Instrument.PHQ9, 14)
    assert parse_score_command("c-3 PHQ-9 14 item9 2 on 2026-11-20") == RecordScore(
        3, Instrument.PHQ9, 14, item9=2, taken_on=date(2026, 11, 20)
    )
    assert parse_score_command("C-3 gad7 21") == RecordScore(3, Instrument.GAD7, 21)
    assert parse_score_command("C-3 auditc 0 on 2026-01-31") == RecordScore(
        3, Instrument.AUDITC, 0, taken_on=date(2026, 1, 31)
    )


def test_score_command_reports_every_problem_at_once():
    with pytest.raises(BadInput) as caught:
        parse_score_command("C-3 gad7 22 item9 4 on 2026-02-30")
    message = caught.value.message
    assert "GAD-7 total must be a whole number from 0 to 21" in message
    assert "Item 9 belongs to the PHQ-9 only." in message
    assert "item 9 is scored 0 to 3" in message
    assert "The date must be YYYY-MM-DD" in message
    assert caught.value.usage and "gad7" in caught.value.usage
    with pytest.raises(BadInput, match="not an instrument"):
        parse_score_command("C-3 bdi 12")
    with pytest.raises(BadInput, match="Give the total score"):
        parse_score_command("C-3 phq9")
    with pytest.raises(BadInput, match="given twice"):
        parse_score_command("C-3 phq9 3 on 2026-01-01 on 2026-01-02")
    with pytest.raises(BadInput, match="not understood"):
        parse_score_command("C-3 phq9 3 yesterday")


def test_registry_command():
    assert parse_registry_command("") == ShowRegistry()
    assert parse_registry_command(" ALL ") == ShowRegistry(everything=True)
    assert parse_registry_command("help") == Help()
    with pytest.raises(BadInput, match="not a registry command"):
        parse_registry_command("everything")


@settings(deadline=None, max_examples=300)
@given(
    st.sampled_from(["phq9", "gad7", "auditc", "PHQ-9", "bdi"]),
    st.integers(-3, 40),
    st.one_of(st.none(), st.integers(-1, 6)),
    st.one_of(st.none(), st.dates(date(2020, 1, 1), date(2030, 12, 31))),
)
def test_the_score_parser_accepts_exactly_the_valid_lines(name, value, item9, taken_on):
    text = f"C-4 {name} {value}" + (f" item9 {item9}" if item9 is not None else "")
    text += f" on {taken_on.isoformat()}" if taken_on else ""
    limits = {"phq9": 27, "phq-9": 27, "gad7": 21, "auditc": 12}
    key = name.lower()
    valid = (
        key in limits
        and 0 <= value <= limits[key]
        and (item9 is None or (key in ("phq9", "phq-9") and 0 <= item9 <= 3))
    )
    if valid:
        parsed = parse_score_command(text)
        assert isinstance(parsed, RecordScore)
        assert (parsed.value, parsed.item9, parsed.taken_on) == (value, item9, taken_on)
    else:
        with pytest.raises(BadInput):
            parse_score_command(text)
