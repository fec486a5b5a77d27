"""Due reviews fire exactly once: after downtime (once, not once per missed period), across
a restart, and with two sweeps running at the same moment on one database (threads of one
process, or two apps), on SQLite and, with TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import func, select

from bot import auditlog
from bot.factory import create_app, deps_of
from bot.reviews import service as review_service
from bot.reviews.sweeps import fire_due_reviews, post_weekly_digest, send_due_nudges
from bot.scheduler import run_sweep
from storage.cases import Case
from storage.core import OutboxMessage
from storage.reviews import NudgeStatus, Review, ReviewNudge, ReviewSchedule
from tests.reviews_helpers import (
    actor,
    prompts,
    quick_case,
    review,
)
from tests.support import ALICE, BOB, care_team

CASES = 12


def run_together(*calls):
    """Start every call at the same moment in its own thread; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def second_app(harness):
    """Another process's app on the same database: its own deps, relay and clock reader."""
    client = WebClient(token="xoxb-test", base_url=harness.settings.slack_api_url, timeout=5)
    return deps_of(create_app(harness.settings, client=client, engine=harness.engine, clock=harness.clock))


def deliver(harness) -> None:
    run_sweep(harness.deps)  # the outbox step sends whatever the other app queued
    harness.settle()


def assert_each_case_prompted_once(harness, case_ids):
    with harness.db() as session:
        reviews = Counter(session.execute(select(Review.case_id)).scalars())
        prompt_rows = session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "review_prompt")
        ).scalar_one()
    assert reviews == Counter({case_id: 1 for case_id in case_ids})
    assert prompt_rows == len(case_ids)
    assert sorted(p["text"] for p in prompts(harness)) == sorted(
        f"Case review due on C-{c}" for c in case_ids
    )
    fired = Counter(e.case_id for e in harness.audit_events(action="review.fired"))
    assert fired == Counter({case_id: 1 for case_id in case_ids})


def test_catch_up_after_downtime_posts_once_and_resumes_on_the_grid(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} every 1 week on monday at 10:00")
    first_due = datetime(2026, 11, 30, 15, tzinfo=UTC)
    # Down for five weeks and a bit: five Mondays passed without a sweep.
    harness.clock.set(first_due + timedelta(weeks=4, days=2))
    assert run_sweep(harness.deps)["reviews"] == 1
    harness.settle()
    assert run_sweep(harness.deps)["reviews"] == 0
    assert len(prompts(harness)) == 1
    with harness.db() as session:
        schedule = session.execute(select(ReviewSchedule)).scalar_one()
        review_row = session.execute(select(Review)).scalar_one()
    assert review_row.due_at == first_due  # the review that was due first
    assert schedule.next_due_at == datetime(2027, 1, 4, 15, tzinfo=UTC)  # next Monday 10:00 EST
    details = json.loads(harness.audit_events(action="review.fired")[0].details)
    assert details["missed_periods"] == 4


def test_restarted_app_posts_a_review_missed_while_down_once(make_harness, harness, clock):
    case_id = care_team(harness)
    harness.close()  # the app goes down
    clock.advance(timedelta(weeks=6))
    restarted = make_harness()
    try:
        assert run_sweep(restarted.deps)["reviews"] == 1  # start-up sweep
        restarted.settle()
        assert run_sweep(restarted.deps)["reviews"] == 0
        assert [p["text"] for p in prompts(restarted)] == [f"Case review due on C-{case_id}"]
    finally:
        restarted.close()


def _due_cases(harness, count: int) -> list[int]:
    ids = [quick_case(harness, f"Case {n}") for n in range(count)]
    harness.settle()
    harness.clock.advance(timedelta(days=15))  # past every default (2-week) due time
    return ids


def test_two_sweeps_in_parallel_threads_post_each_review_once(harness):
    ids = _due_cases(harness, CASES)
    results = run_together(lambda: fire_due_reviews(harness.deps), lambda: fire_due_reviews(harness.deps))
    assert sorted(results) == [0, CASES] or sum(results) == CASES
    harness.settle()
    assert_each_case_prompted_once(harness, ids)


def test_two_apps_on_one_database_post_each_review_once(harness):
    ids = _due_cases(harness, CASES)
    other = second_app(harness)
    results = run_together(
        lambda: run_sweep(harness.deps)["reviews"],
        lambda: run_sweep(other)["reviews"],
        lambda: run_sweep(other)["reviews"],
    )
    assert sum(results) == CASES
    deliver(harness)
    assert_each_case_prompted_once(harness, ids)
    assert run_sweep(other)["reviews"] == 0


def test_parallel_nudge_sweeps_send_each_nudge_once(harness):
    ids = _due_cases(harness, 4)
    fire_due_reviews(harness.deps)
    harness.clock.advance(timedelta(hours=48))  # Thursday 10:00 New York: working hours
    other = second_app(harness)
    results = run_together(lambda: send_due_nudges(harness.deps), lambda: send_due_nudges(other))
    assert sum(results) == 2 * len(ids)  # Alice and Bob on each case
    deliver(harness)
    dms = Counter(p["channel"] for p in harness.posts() if p["text"].endswith("waiting for your update"))
    assert dms == Counter({"U0ALICE": len(ids), "U0BOB": len(ids)})
    with harness.db() as session:
        assert {n.status for n in session.execute(select(ReviewNudge)).scalars()} == {NudgeStatus.SENT}
    assert len(harness.audit_events(action="review.nudged")) == 2 * len(ids)


def test_parallel_digest_sweeps_post_the_weekly_digest_once(harness):
    quick_case(harness, "Digest case")
    assert post_weekly_digest(harness.deps) == 0  # first sweep: schedules next Monday 08:00 UTC
    harness.clock.set(datetime(2026, 11, 30, 8, tzinfo=UTC))
    other = second_app(harness)
    results = run_together(lambda: post_weekly_digest(harness.deps), lambda: post_weekly_digest(other))
    assert sorted(results) == [0, 1]
    deliver(harness)
    assert len([p for p in harness.posts("C0CARE") if p["text"].startswith("Caseload digest")]) == 1


def test_sweep_racing_review_now_posts_one_prompt(harness):
    """`/review now` commits while the sweep is about to open the scheduled review: the one
    open review per case rule (a partial unique index) makes the sweep stand down."""
    [case_id] = _due_cases(harness, 1)
    inside, release = threading.Event(), threading.Event()

    def review_now():
        with harness.deps.unit(actor(ALICE)) as unit:
            review_service.start_now(unit, case_id=case_id)
            inside.set()
            release.wait(10)

    user = threading.Thread(target=review_now)
    user.start()
    assert inside.wait(10)
    swept: list[int] = []
    sweeper = threading.Thread(target=lambda: swept.append(fire_due_reviews(harness.deps)))
    sweeper.start()
    time.sleep(0.3)  # let the sweep reach its insert (PostgreSQL) or its BEGIN (SQLite)
    release.set()
    user.join(10)
    sweeper.join(30)
    harness.settle()
    assert swept == [1]
    assert len(prompts(harness)) == 1
    assert [e.case_id for e in harness.audit_events(action="review.due_while_open")] == [case_id]
    with harness.db() as session:
        assert session.execute(select(func.count()).select_from(Review)).scalar_one() == 1
        schedule = session.execute(select(ReviewSchedule)).scalar_one()
    assert schedule.next_due_at > harness.clock.now()


def test_concurrent_first_lookups_of_a_user_do_not_collide(harness):
    """Two nudge sweeps may ask users.info for the same person at once; the cache write of
    the second must not fail on the first's row (it did on PostgreSQL)."""
    other = second_app(harness)
    results = run_together(
        *(lambda deps=deps: deps.gateway.user("U0NEW").tz for deps in [harness.deps, other] * 2)
    )
    assert results == ["America/New_York"] * 4


def test_one_sweep_batch_opens_each_review_with_its_prompt_nudges_and_events_in_order(harness):
    """The batch path (one statement per table for the whole batch) writes what one review
    at a time wrote: each review linked to its own prompt, posted in its own case thread
    with its own id on the buttons, one pending nudge per member, the schedules moved on,
    and per case `review.started` then `review.fired`, in schedule order, on an intact
    chain. A case whose last review is still open is told it is overdue instead."""
    first, busy, last = [quick_case(harness, f"Case {n}") for n in range(3)]
    with harness.deps.unit(actor(ALICE)) as unit:
        review_service.start_now(unit, case_id=busy)
    harness.settle()
    harness.clock.advance(timedelta(days=15))
    before = len(harness.audit_events())

    assert fire_due_reviews(harness.deps) == 3
    harness.settle()

    now = harness.clock.now()
    with harness.db() as session:
        opened = {
            r.case_id: r
            for r in session.execute(select(Review).where(Review.trigger == "schedule")).scalars()
        }
        assert sorted(opened) == [first, last]
        for case_id, row in opened.items():
            prompt = session.get(OutboxMessage, row.prompt_outbox_id)
            card = session.get(OutboxMessage, session.get(Case, case_id).card_outbox_id)
            assert (prompt.purpose, prompt.case_id, prompt.thread_of) == ("review_prompt", case_id, card.id)
            assert prompt.status == "sent"
            message = json.loads(harness.deps.cipher.decrypt(prompt.payload_enc))
            values = {e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}
            assert values == {str(row.id)}  # its own id on its buttons
            nudges = (
                session.execute(select(ReviewNudge).where(ReviewNudge.review_id == row.id)).scalars().all()
            )
            assert sorted(n.user_id for n in nudges) == [ALICE, BOB]
            assert {(n.case_id, n.status) for n in nudges} == {(case_id, NudgeStatus.PENDING)}
            assert all(n.due_at > now for n in nudges)
        schedules = session.execute(select(ReviewSchedule)).scalars().all()
        assert all(s.next_due_at > now for s in schedules)
        assert auditlog.verify(session, harness.deps.audit_key).ok

    events = [
        (e.action, e.case_id) for e in harness.audit_events()[before:] if e.action.startswith("review.")
    ]
    assert events == [
        ("review.started", first),
        ("review.fired", first),
        ("review.due_while_open", busy),
        ("review.started", last),
        ("review.fired", last),
    ]
    assert sorted(p["text"] for p in prompts(harness)) == sorted(
        f"Case review due on C-{c}" for c in (first, busy, last)
    )  # `busy`'s own, from /review now, and the two the sweep opened
    assert [p["text"] for p in harness.posts(starting="Case review on")] == [
        f"Case review on C-{busy} still open, 15 days overdue"
    ]
