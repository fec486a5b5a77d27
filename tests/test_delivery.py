"""The outbox relay: retries with backoff, keeps per-channel order, survives restarts,
records every result, and never sends a message twice."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient

from bot.auditlog import Source
from bot.delivery import Relay
from bot.scheduler import run_sweep
from bot.unit import Actor
from storage.core import OutboxStatus, ProcessedRequest
from tests.support import ALICE, BOB, care_team


def test_rate_limited_message_waits_retry_after_and_keeps_thread_order(harness):
    harness.slack.fail("chat.postMessage", status=429, retry_after=30, times=1)
    care_team(harness, {ALICE: "prescriber", BOB: "therapist"})
    rows = harness.outbox()
    card, note = rows[0], rows[1]
    assert card.status == OutboxStatus.PENDING and card.last_error == "ratelimited"
    assert card.next_attempt_at == harness.clock.now() + timedelta(seconds=30)
    assert note.status == OutboxStatus.PENDING  # waits behind the card: a reply needs its root
    assert not harness.posts()

    harness.clock.advance(timedelta(seconds=29))
    run_sweep(harness.deps)
    assert not harness.posts()  # not before Retry-After
    harness.clock.advance(timedelta(seconds=1))
    run_sweep(harness.deps)
    posts = harness.posts("C0CARE")
    assert [p["text"] for p in posts] == ["Case C-1 care-team thread", "Update on case C-1"]
    assert posts[1]["thread_ts"] == harness.root_ts(1)
    assert {r.status for r in harness.outbox()} == {OutboxStatus.SENT}

    run_sweep(harness.deps)  # nothing left: nothing sent twice
    assert len(harness.posts()) == 2


def test_server_errors_back_off_then_recover_exactly_once(harness):
    harness.slack.fail("chat.postMessage", status=500, error="internal_error", times=3)
    harness.command(ALICE, "create Blue Heron")
    for _ in range(10):
        harness.clock.advance(timedelta(minutes=5))
        run_sweep(harness.deps)
    assert len(harness.posts()) == 1
    card = harness.outbox()[0]
    assert card.status == OutboxStatus.SENT and card.attempts == 4
    actions = [e.action for e in harness.audit_events(target=f"outbox:{card.id}")]
    assert actions == ["message.retry"] * 3 + ["message.delivered"]


def test_permanent_error_is_recorded_and_dependants_fail_too(harness):
    harness.slack.refuse("chat.postMessage", "C0PRIVATE", "channel_not_found")
    care_team(harness, {ALICE: "prescriber", BOB: "therapist"}, channel="C0PRIVATE")
    rows = harness.outbox()
    assert rows[0].status == OutboxStatus.FAILED and rows[0].last_error == "channel_not_found"
    assert all(r.status == OutboxStatus.FAILED for r in rows if r.thread_of == rows[0].id)
    failed = harness.audit_events(action="message.failed")
    assert failed and failed[0].outcome == "error"


def test_not_in_channel_joins_public_channel_and_retries(harness):
    harness.slack.fail("chat.postMessage", status=200, error="not_in_channel", times=1)
    harness.command(ALICE, "create Blue Heron")
    assert harness.slack.calls_to("conversations.join")[0].args["channel"] == "C0CARE"
    assert len(harness.posts()) == 1 and harness.outbox()[0].status == OutboxStatus.SENT


def test_messages_queued_while_slack_is_unreachable_are_sent_after_a_restart(make_harness, slack, clock):
    dead = make_harness()
    # Slack becomes unreachable: the relay's client now points at a closed port.
    dead.deps.relay.client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", timeout=2)
    try:
        dead.command(ALICE, "create Blue Heron", settle=False)
        dead.deps.inbox.wait_idle()
        dead.deps.relay.wait_idle()
    finally:
        dead.close()
    rows = dead.outbox()
    assert rows and rows[0].status == OutboxStatus.PENDING and rows[0].last_error.startswith("connection")
    assert not slack.calls_to("chat.postMessage")

    clock.advance(timedelta(minutes=10))
    alive = make_harness()
    try:
        run_sweep(alive.deps)  # the start-up sweep
        run_sweep(alive.deps)
        assert len(alive.posts("C0CARE")) == 1
        assert alive.outbox()[0].status == OutboxStatus.SENT
    finally:
        alive.close()


def test_a_claim_that_ran_out_and_was_taken_by_another_sender_sends_nothing(harness):
    """Two senders (replicas, or the relay thread and a sweep): A claims a row, its lease runs
    out before the row's turn, B claims it. A must not send it too."""
    harness.deps.relay.stop()  # no background delivery: the two senders below are the only ones
    harness.slack.fail("chat.postMessage", status=500, error="internal_error", times=1)
    harness.command(ALICE, "create Blue Heron", settle=False)
    assert harness.deps.inbox.wait_idle(30)
    first = harness.deps.relay
    first.deliver_due()  # the 500: the card waits for its retry
    card = harness.outbox()[0]
    assert card.status == OutboxStatus.PENDING and not harness.posts()

    harness.clock.advance(timedelta(minutes=5))
    claims_a = first.claim()
    assert card.id in claims_a
    harness.clock.advance(first.lease + timedelta(seconds=1))  # A's turn comes too late
    second = Relay(
        engine=harness.deps.engine,
        client=harness.deps.client,
        cipher=harness.deps.cipher,
        clock=harness.clock,
        audit_key=harness.deps.audit_key,
        check=first.check,
    )
    claims_b = second.claim()
    assert card.id in claims_b  # B took it, with a lease still live when A gets to it

    assert first.deliver_claimed(claims_a) == 0
    assert not harness.posts()
    assert harness.outbox()[0].lease_until == claims_b[card.id]  # B's claim left as it was
    assert first.release_held() == 0  # and A's leaving does not free B's row

    assert second.deliver_claimed(claims_b) == 1
    assert len(harness.posts("C0CARE")) == 1
    card = harness.outbox()[0]
    assert card.status == OutboxStatus.SENT and card.attempts == 2
    run_sweep(harness.deps)
    assert len(harness.posts("C0CARE")) == 1


def test_newer_card_update_supersedes_an_older_pending_one(harness):
    harness.command(ALICE, "create Blue Heron")
    harness.slack.fail("chat.update", status=503, error="service_unavailable", times=1)
    harness.command(ALICE, "add C-1 <@U0BOB> therapist")
    harness.command(ALICE, "add C-1 <@U0CAROL> pcp")
    harness.clock.advance(timedelta(minutes=1))
    run_sweep(harness.deps)
    updates = harness.slack.calls_to("chat.update")
    assert "U0CAROL" in str(updates[-1].args["blocks"])
    statuses = [r.status for r in harness.outbox() if r.update_of]
    assert OutboxStatus.PENDING not in statuses
    assert statuses.count(OutboxStatus.SENT) >= 1


def test_payloads_are_encrypted_at_rest(harness):
    harness.command(ALICE, "create Very Private Label")
    assert all("Very Private" not in r.payload_enc for r in harness.outbox())


def test_sweep_forgets_delivery_ids_after_two_days(harness):
    with harness.deps.unit(Actor.app(Source.SCHEDULER)) as unit:
        unit.once("ev:old")
    harness.clock.advance(timedelta(days=2, seconds=1))
    with harness.deps.unit(Actor.app(Source.SCHEDULER)) as unit:
        unit.once("ev:new")
    results = run_sweep(harness.deps)
    assert results["processed_requests"] == 1
    assert [r.key for r in harness.rows(ProcessedRequest)] == ["ev:new"]


def test_scheduler_sweeps_once_at_start_up(harness):
    from bot.scheduler import start_scheduler

    harness.deps.relay.stop()  # no immediate delivery: only the sweep can send it
    with harness.deps.unit(Actor.app(Source.SCHEDULER)) as unit:
        unit.post(
            channel="C0CARE", message={"text": "left over from before a restart", "blocks": []}, purpose="t"
        )
    assert not harness.posts()
    scheduler = start_scheduler(harness.deps)
    try:
        assert (
            harness.slack.wait_for("chat.postMessage", timeout=10)[0].args["text"]
            == "left over from before a restart"
        )
        assert scheduler.get_job("sweep").trigger.interval.total_seconds() == harness.settings.sweep_seconds
    finally:
        scheduler.shutdown(wait=True)
