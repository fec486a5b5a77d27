"""The users cache expires (issue 12): cached users.info rows nobody looked up for
CARETHREAD_USER_CACHE_DAYS are purged by the sweep, like processed requests, so a departed
clinician's time zone and flags do not stay forever; rows still in use stay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError
from bot.scheduler import run_sweep
from bot.slack import USER_CACHE_TTL
from storage.core import SlackUser
from tests.support import ALICE, BOB, care_team, make_settings


def _cached(harness) -> list[str]:
    return [row.user_id for row in harness.rows(SlackUser)]


def _set_cadence(harness, user: str, case_id: int) -> None:
    """A real lookup: setting a cadence reads the setter's zone through users.info."""
    harness.command(user, f"C-{case_id} every 2 weeks", command="/review")


@pytest.mark.parametrize("days", [None, "7"])
def test_profiles_unused_for_the_period_are_purged_and_used_ones_stay(make_harness, slack, days):
    env = {} if days is None else {"CARETHREAD_USER_CACHE_DAYS": days}
    h = make_harness(**env)
    period = timedelta(days=int(days or 30))
    slack.add_user(ALICE, tz="Europe/Berlin")
    slack.add_user(BOB, tz="America/Chicago")
    case_id = care_team(h, {ALICE: "prescriber", BOB: "therapist"})
    _set_cadence(h, ALICE, case_id)
    _set_cadence(h, BOB, case_id)
    assert {ALICE, BOB} <= set(_cached(h))

    # Alice keeps using the app (every lookup past the TTL refreshes her row); Bob left.
    elapsed = timedelta(0)
    while elapsed < period:
        h.clock.advance(USER_CACHE_TTL + timedelta(minutes=1))
        elapsed += USER_CACHE_TTL + timedelta(minutes=1)
        _set_cadence(h, ALICE, case_id)
    assert run_sweep(h.deps)["users_cache"] == 0  # Bob's last use is within period + TTL still

    h.clock.advance(USER_CACHE_TTL + timedelta(minutes=2))
    _set_cadence(h, ALICE, case_id)
    purged = run_sweep(h.deps)["users_cache"]
    assert purged >= 1
    assert BOB not in _cached(h) and ALICE in _cached(h)
    events = h.audit_events(action="users.cache_purged")
    assert len(events) == 1 and BOB not in events[0].details and f'"count":{purged}' in events[0].details

    # Purged is not forgotten for good: Bob's next use looks him up again.
    _set_cadence(h, BOB, case_id)
    assert BOB in _cached(h)
    assert run_sweep(h.deps)["users_cache"] == 0


def test_the_period_is_checked_at_start_up(tmp_path):
    with pytest.raises(
        ConfigError, match="CARETHREAD_USER_CACHE_DAYS must be a whole number between 1 and 3650"
    ):
        make_settings(tmp_path, CARETHREAD_USER_CACHE_DAYS="0")
