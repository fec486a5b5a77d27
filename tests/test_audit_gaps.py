"""What /case leaves in the audit trail, beyond what its own tests check: help, whose
labels a list showed, and a card update that was superseded before it was sent."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.scheduler import run_sweep
from tests.support import (
    ALICE,
    BOB,
    CAROL,
    care_team,
)


def test_lists_and_home_record_which_cases_were_shown(harness):
    first = care_team(harness, {ALICE: "prescriber"}, label="One")
    second = care_team(harness, {ALICE: "prescriber"}, label="Two")
    harness.command(ALICE, "list")
    [listed] = harness.audit_events(action="case.listed")
    assert json.loads(listed.details) == {"cases": [second, first], "count": 2}
    harness.event({"type": "app_home_opened", "user": ALICE, "tab": "home", "channel": "D0ALICE"})
    [home] = harness.audit_events(action="home.viewed")
    assert json.loads(home.details)["cases"] == [second, first]


def test_a_superseded_card_update_is_audited(harness):
    harness.slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    # The card waits for its retry while the team grows.
    case_id = care_team(harness, {ALICE: "prescriber", BOB: "therapist", CAROL: "pharmacist"})
    harness.clock.advance(timedelta(seconds=5))
    run_sweep(harness.deps)
    harness.settle()
    updates = harness.slack.calls_to("chat.update")
    assert len(updates) == 1 and "U0CAROL" in json.dumps(updates[0].args)
    outcomes = [a for a, _ in harness.audit_actions(case_id=case_id) if a.startswith("message.")]
    assert outcomes.count("message.superseded") == 1
    assert outcomes.count("message.retry") == 1
