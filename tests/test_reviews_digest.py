"""The caseload digest: ranking (urgent open side effects through the urgent_items hook, not
improving, overdue reviews, new cases), counts, links, who may see what, and the weekly
posting claimed once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.contributions import Workflow
from bot.scheduler import run_sweep
from tests.reviews_helpers import (
    quick_case,
    quick_review,
    review,
)
from tests.support import ADMIN, ALICE, BOB, MALLORY, reply_text

END = datetime(2026, 11, 23, 15, tzinfo=UTC)


def with_urgent_items(h, provider) -> None:
    """Declare one more workflow that reports urgent open items per case, as side effects do."""
    h.deps.workflows = (
        *h.deps.workflows,
        Workflow(name="test_urgent", listeners="", urgent_items=(provider,)),
    )


@pytest.fixture
def urgent(harness):
    """What another workflow reports through its declared urgent items, per case."""
    counts: dict[int, int] = {}

    def provider(session, case_ids):
        return {case_id: n for case_id, n in counts.items() if case_id in case_ids}

    with_urgent_items(harness, provider)
    return counts


def order(text: str) -> list[str]:
    return re.findall(r"^\d+\. \*(C-\d+)\*", text, flags=re.MULTILINE)


def caseload(h) -> dict[str, int]:
    """Seven cases, each with one reason to be reviewed (or none), built over 12 weeks."""
    h.clock.set(END - timedelta(weeks=12))
    ids = {name: quick_case(h, name) for name in ("urgent", "stuck", "overdue", "steady", "urgent3")}
    quick_review(h, ids["stuck"], phq9=18)
    quick_review(h, ids["steady"], phq9=18)
    h.clock.set(END - timedelta(weeks=2))
    quick_review(h, ids["stuck"], phq9=15)  # 17 % lower after 10 weeks: not improving
    quick_review(h, ids["steady"], phq9=6)  # 67 % lower: improving
    h.clock.set(END - timedelta(days=8))
    quick_review(h, ids["overdue"], decide=False)  # open for 8 days, no decision
    ids["new+overdue"] = quick_case(h, "new and overdue")
    quick_review(h, ids["new+overdue"], decide=False)
    h.clock.set(END - timedelta(days=3))
    ids["new"] = quick_case(h, "new")
    h.clock.set(END)
    h.settle()
    return ids


def test_digest_ranks_urgent_then_not_improving_overdue_new(harness, urgent):
    ids = caseload(harness)
    urgent[ids["urgent"]] = 1
    urgent[ids["urgent3"]] = 3
    text = review(harness, ALICE, "digest")
    expected = ["urgent3", "urgent", "stuck", "new+overdue", "overdue", "new", "steady"]
    assert order(text) == [f"C-{ids[name]}" for name in expected]
    assert (
        "*7* open cases · *2* with urgent items · *1* not improving · *2* with an overdue review · *2* new"
    ) in text
    lines = {line.split("*")[1]: line for line in text.splitlines() if re.match(r"^\d+\. ", line)}
    assert "3 urgent items open" in lines[f"C-{ids['urgent3']}"]
    assert "1 urgent item open" in lines[f"C-{ids['urgent']}"]
    assert "not improving" in lines[f"C-{ids['stuck']}"] and "PHQ-9 18 → 15" in lines[f"C-{ids['stuck']}"]
    assert "review overdue" in lines[f"C-{ids['overdue']}"] and "new case" not in lines[f"C-{ids['overdue']}"]
    assert (
        "review overdue" in lines[f"C-{ids['new+overdue']}"]
        and "new case" in lines[f"C-{ids['new+overdue']}"]
    )
    assert "on track" in lines[f"C-{ids['steady']}"] and "PHQ-9 18 → 6" in lines[f"C-{ids['steady']}"]
    assert all("https://slack.com/archives/C0CARE/p" in line for line in lines.values())  # thread links
    reply = harness.replies()[-1]
    assert reply["text"] == "Caseload digest: 7 open cases"  # no case details in the notification
    event = harness.audit_events(action="review.digest_viewed")[-1]
    details = json.loads(event.details)
    assert (event.actor, details["cases"], details["urgent"], details["overdue"]) == (ALICE, 7, 2, 2)


def test_digest_shows_only_my_cases_and_all_for_admins(harness, urgent):
    ids = caseload(harness)
    assert "*0* open cases" in review(harness, MALLORY, "digest")
    assert len(order(review(harness, BOB, "digest"))) == len(ids)
    assert "Only CareThread admins" in review(harness, ALICE, "digest all")
    assert ("command:/review", "denied") in harness.audit_actions(actor=ALICE)
    assert len(order(review(harness, ADMIN, "digest all"))) == len(ids)


def test_urgent_hook_is_asked_once_per_digest_with_every_case(harness):
    asked = []

    def provider(session, case_ids):
        asked.append(sorted(case_ids))
        return {}

    with_urgent_items(harness, provider)
    first, second = quick_case(harness, "a"), quick_case(harness, "b")
    review(harness, ALICE, "digest")
    assert asked == [[first, second]]


def test_weekly_digest_posts_once_per_care_team_channel(make_harness):
    h = make_harness(CARETHREAD_DIGEST_TZ="America/New_York")
    try:
        one = quick_case(h, "one", channel="C0CARE")
        two = quick_case(h, "two", channel="C0OTHER")
        h.settle()
        assert run_sweep(h.deps)["review_digest"] == 0  # schedules Monday 08:00 New York
        scheduled = json.loads(h.audit_events(action="review.digest_scheduled")[0].details)
        assert scheduled["next_at"] == "2026-11-30T13:00:00+00:00"
        h.clock.set(datetime(2026, 11, 30, 12, 59, tzinfo=UTC))
        assert run_sweep(h.deps)["review_digest"] == 0
        h.clock.set(datetime(2026, 11, 30, 13, 0, tzinfo=UTC))
        assert run_sweep(h.deps)["review_digest"] == 2
        assert run_sweep(h.deps)["review_digest"] == 0
        h.settle()
        digests = {p["channel"]: reply_text(p) for p in h.posts() if p["text"].startswith("Caseload digest")}
        assert set(digests) == {"C0CARE", "C0OTHER"}
        assert f"*C-{one}*" in digests["C0CARE"] and f"C-{two}" not in digests["C0CARE"]
        assert f"*C-{two}*" in digests["C0OTHER"] and f"C-{one}" not in digests["C0OTHER"]
        assert "Weekly caseload digest" in digests["C0CARE"]
        posted = h.audit_events(action="review.digest_posted")
        assert [e.target for e in posted] == ["channel:C0CARE", "channel:C0OTHER"]
        assert all(e.actor == "app" and e.source == "scheduler" for e in posted)
        # A week later, again once; after a long downtime, once (not once per missed week).
        h.clock.set(datetime(2027, 1, 20, tzinfo=UTC))
        assert run_sweep(h.deps)["review_digest"] == 2
        assert run_sweep(h.deps)["review_digest"] == 0
    finally:
        h.close()


def test_weekly_digest_to_a_configured_channel_and_rule_changes(make_harness):
    h = make_harness(CARETHREAD_DIGEST_CHANNEL="C0LEADS")
    try:
        quick_case(h, "one", channel="C0CARE")
        quick_case(h, "two", channel="C0OTHER")
        run_sweep(h.deps)
        h.clock.set(datetime(2026, 11, 30, 8, tzinfo=UTC))
        assert run_sweep(h.deps)["review_digest"] == 1
        h.settle()
        [digest] = [p for p in h.posts() if p["text"].startswith("Caseload digest")]
        assert digest["channel"] == "C0LEADS" and "C-1" in reply_text(digest) and "C-2" in reply_text(digest)
    finally:
        h.close()
    # The deployment moves the digest to Wednesdays: the next run is recomputed, not kept.
    h = make_harness(CARETHREAD_DIGEST_DAY="wed", CARETHREAD_DIGEST_TIME="07:30")
    try:
        assert run_sweep(h.deps)["review_digest"] == 0
        scheduled = json.loads(h.audit_events(action="review.digest_scheduled")[-1].details)
        assert scheduled["next_at"] == "2026-12-02T07:30:00+00:00"
    finally:
        h.close()
    h = make_harness(CARETHREAD_DIGEST_DAY="off")
    try:
        h.clock.set(datetime(2026, 12, 30, tzinfo=UTC))
        assert run_sweep(h.deps)["review_digest"] == 0
    finally:
        h.close()
