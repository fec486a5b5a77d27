"""Scheduled case reviews end to end: signed requests and sweeps into the real app, assertions
on what the stand-in Slack received, what the database holds and what the audit log says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.auditlog import verify
from bot.ids import Action, BlockId
from bot.scheduler import run_sweep
from storage.cases import Case
from storage.core import OutboxMessage, SlackUser
from storage.reviews import NudgeStatus, Review, ReviewNudge, ReviewSchedule, ReviewUpdate
from tests.reviews_helpers import (
    PLAN,
    click,
    latest_review,
    prompts,
    review,
    submit_decision,
    submit_update,
    thread_posts,
)
from tests.support import ADMIN, ALICE, BOB, CAROL, DAN, MALLORY, care_team, reply_text


def schedule_of(h, case_id: int) -> ReviewSchedule | None:
    with h.db() as session:
        return session.execute(
            select(ReviewSchedule).where(ReviewSchedule.case_id == case_id)
        ).scalar_one_or_none()


def sweep(h) -> dict:
    result = run_sweep(h.deps)
    h.settle()
    return result


# -- cadence -----------------------------------------------------------------------------------


def test_cadence_uses_the_callers_time_zone_and_is_stored_as_utc(harness):
    harness.slack.add_user(ALICE, tz="Europe/Berlin")
    case_id = care_team(harness)
    reply = review(harness, ALICE, f"C-{case_id} every 2 weeks on thursday at 14:30")
    # Monday 2026-11-23 16:00 in Berlin: the next Thursday 14:30 CET is 13:30 UTC.
    schedule = schedule_of(harness, case_id)
    assert (schedule.every, schedule.period, schedule.weekday, schedule.at_local) == (2, "weeks", 3, "14:30")
    assert schedule.tz == "Europe/Berlin" and schedule.active
    assert schedule.next_due_at == datetime(2026, 11, 26, 13, 30, tzinfo=UTC)
    stamp = int(schedule.next_due_at.timestamp())
    assert "every 2 weeks on Thursday at 14:30 (Europe/Berlin)" in reply
    assert f"<!date^{stamp}^" in reply  # Slack shows it in each reader's zone
    note = thread_posts(harness, f"Review schedule for C-{case_id}")[-1]
    assert note["thread_ts"] == harness.root_ts(case_id) and f"<!date^{stamp}^" in reply_text(note)
    event = [e for e in harness.audit_events(action="review.cadence_set") if e.actor == ALICE][-1]
    assert json.loads(event.details)["tz"] == "Europe/Berlin" and event.case_id == case_id


def test_off_show_and_refusals(harness):
    case_id = care_team(harness)
    assert "every 2 weeks" in review(harness, BOB, f"C-{case_id}")  # the default cadence
    assert "off." in review(harness, BOB, f"C-{case_id} off")
    assert schedule_of(harness, case_id).active is False
    assert "already off" in review(harness, BOB, f"C-{case_id} off")
    existing = review(harness, MALLORY, f"C-{case_id} every 1 week")
    missing = review(harness, MALLORY, "C-99 every 1 week")
    assert existing.replace(f"C-{case_id}", "C-N") == missing.replace("C-99", "C-N")
    assert "don't have access" in existing
    assert harness.audit_actions(actor=MALLORY) == [("command:/review", "denied")] * 2
    assert schedule_of(harness, case_id).active is False


def test_new_cases_get_the_default_cadence_in_the_creators_zone(harness):
    case_id = care_team(harness)
    schedule = schedule_of(harness, case_id)
    # Alice's Slack zone (users.info, looked up when the case is created): 09:00 in New York.
    assert (schedule.every, schedule.period, schedule.tz) == (2, "weeks", "America/New_York")
    assert schedule.next_due_at == datetime(2026, 12, 7, 14, tzinfo=UTC)
    assert json.loads(harness.audit_events(action="review.cadence_set")[0].details)["default"] is True


def test_default_cadence_falls_back_to_the_configured_zone_when_slack_cannot_say(harness):
    harness.slack.fail("users.info", status=500, times=5)
    case_id = care_team(harness)
    schedule = schedule_of(harness, case_id)
    assert (schedule.every, schedule.period, schedule.tz) == (2, "weeks", "UTC")
    assert schedule.next_due_at == datetime(2026, 12, 7, 9, tzinfo=UTC)


def test_default_cadence_is_configurable(make_harness):
    h = make_harness(CARETHREAD_DEFAULT_REVIEW_EVERY="off")
    try:
        case_id = care_team(h)
        assert schedule_of(h, case_id) is None
        assert "off." in review(h, ALICE, f"C-{case_id}")
    finally:
        h.close()
    h = make_harness(
        CARETHREAD_DEFAULT_REVIEW_EVERY="1 week on friday at 11:00",
        CARETHREAD_FALLBACK_TZ="America/Chicago",
    )
    try:
        h.slack.fail("users.info", status=500, times=5)  # a creator whose zone Slack cannot tell us
        h.command("U0DAVE", "create Third")
        with h.db() as session:
            newest = (
                session.execute(select(ReviewSchedule).order_by(ReviewSchedule.id.desc())).scalars().first()
            )
        assert (newest.every, newest.weekday, newest.at_local, newest.tz) == (
            1,
            4,
            "11:00",
            "America/Chicago",
        )
        assert newest.next_due_at == datetime(2026, 11, 27, 17, tzinfo=UTC)
    finally:
        h.close()


BAD = [
    ("C-1 every 2 fortnights", "not `fortnights`"),
    ("C-1 every 3 days on monday", "goes with weeks"),
    ("C-1 every 2 weeks at 7", None),  # valid: 07:00
    ("C-1 maybe", "is not something /review does"),
    ("digest some", "takes nothing, or `all`"),
    ("C-1 every 99 weeks", "from 1 to 52 weeks"),
]


def test_bad_review_commands_reply_with_usage_and_change_nothing(harness):
    care_team(harness)
    for text, expected in BAD:
        with harness.db() as session:
            before = session.execute(
                select(OutboxMessage.id).where(OutboxMessage.method != "response_url")
            ).all()
        reply = review(harness, ALICE, text)
        with harness.db() as session:
            after = session.execute(
                select(OutboxMessage.id).where(OutboxMessage.method != "response_url")
            ).all()
        if expected is None:
            assert "07:00" in reply
            continue
        assert expected in reply and "Usage:" in reply, (text, reply)
        assert after == before
    assert "/review <case> every" in review(harness, ALICE, "help").replace("&lt;", "<").replace("&gt;", ">")


# -- the sweep posts due reviews -------------------------------------------------------------


def test_sweep_posts_the_due_review_once_in_the_thread_mentioning_the_team(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} every 1 week on monday at 10:00")
    # Monday 10:00 New York is 15:00 UTC: the clock is exactly there, so the first is next week.
    assert sweep(harness)["reviews"] == 0
    harness.clock.advance(timedelta(days=7))
    assert sweep(harness)["reviews"] == 1
    assert sweep(harness)["reviews"] == 0
    [prompt] = prompts(harness)
    assert prompt["text"] == f"Case review due on C-{case_id}"  # the id only in notifications
    assert prompt["thread_ts"] == harness.root_ts(case_id)
    text = reply_text(prompt)
    assert all(f"<@{u}>" in text for u in (ALICE, BOB, CAROL))
    buttons = [e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [Action.REVIEW_ADD_UPDATE, Action.REVIEW_DECIDE]
    assert buttons[0]["text"]["text"] == "Add my update"

    r = latest_review(harness)
    assert (r.status, r.trigger, r.started_by) == ("open", "schedule", "app")
    assert r.due_at == datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert schedule_of(harness, case_id).next_due_at == datetime(2026, 12, 7, 15, tzinfo=UTC)
    fired = harness.audit_events(action="review.fired")
    assert len(fired) == 1 and fired[0].actor == "app" and fired[0].source == "scheduler"
    assert json.loads(fired[0].details)["missed_periods"] == 0
    with harness.db() as session:
        nudges = session.execute(select(ReviewNudge)).scalars().all()
    assert sorted(n.user_id for n in nudges) == sorted([ALICE, BOB, CAROL])


def test_closed_cases_are_not_prompted(harness):
    case_id = care_team(harness)
    harness.command(ALICE, f"close C-{case_id} moved away")
    harness.clock.advance(timedelta(weeks=3))
    assert sweep(harness)["reviews"] == 0
    assert prompts(harness) == []


def test_due_while_a_review_is_still_open_posts_no_second_prompt(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} every 1 day at 09:00")
    assert "Started a review" in review(harness, ALICE, f"C-{case_id} now")
    assert "already open" in review(harness, BOB, f"C-{case_id} now")
    harness.clock.advance(timedelta(days=1))
    assert sweep(harness)["reviews"] == 1
    assert len(prompts(harness)) == 1
    assert ("review.due_while_open", "ok") in harness.audit_actions(case_id=case_id)
    assert schedule_of(harness, case_id).next_due_at > harness.clock.now()


# -- updates ------------------------------------------------------------------------------------


def test_add_my_update_opens_a_modal_fitting_each_role(harness):
    case_id = care_team(harness)
    harness.command(ALICE, f"add C-{case_id} <@{DAN}> pcp")
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    expected = {
        BOB: ["review_sessions", "review_progress", "review_concerns"],
        ALICE: ["review_regimen", "review_adherence", "review_changes"],
        CAROL: ["review_social_needs", "review_barriers"],
        DAN: ["review_general"],
    }
    for user, blocks in expected.items():
        click(harness, user, Action.REVIEW_ADD_UPDATE, review_id)
        view = harness.last_view()
        inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
        assert inputs == [*blocks, "review_phq9", "review_item9", "review_gad7", "review_scores_taken"], user
        assert view["private_metadata"] == str(review_id)
    phq9 = next(b for b in view["blocks"] if b.get("block_id") == "review_phq9")
    assert phq9["element"]["type"] == "number_input" and phq9["element"]["max_value"] == "27"
    assert (
        harness.audit_actions(action="review.update_form_opened") == [("review.update_form_opened", "ok")] * 4
    )


def test_every_update_mistake_comes_back_in_one_answer(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    status, body = submit_update(
        harness,
        BOB,
        review_id,
        REVIEW_PHQ9="30",
        REVIEW_GAD7="5.5",
        REVIEW_SESSIONS="100",
        REVIEW_CONCERNS="ok",
    )
    errors = json.loads(body)["errors"]
    assert status == 200 and set(errors) == {"review_phq9", "review_gad7", "review_sessions"}
    assert "0 to 27" in errors["review_phq9"] and "0 to 21" in errors["review_gad7"]
    with harness.db() as session:
        assert session.execute(select(ReviewUpdate)).first() is None
    (event,) = harness.audit_events(action="modal:review_update")
    assert event.outcome == "bad_input"
    assert json.loads(event.details) == {"fields": ["review_gad7", "review_phq9", "review_sessions"]}


def test_updates_are_validated_encrypted_posted_and_update_the_prompt_in_place(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id

    for fields, block, message in [
        ({"REVIEW_PHQ9": "28"}, "review_phq9", "0 to 27"),
        ({"REVIEW_PROGRESS": "ok", "REVIEW_GAD7": "-3"}, "review_gad7", "0 to 21"),
        ({"REVIEW_GAD7": "7.5"}, "review_gad7", "whole number"),
        ({"REVIEW_SESSIONS": "100"}, "review_sessions", "from 0 to 60"),
        ({"REVIEW_PROGRESS": "   "}, "review_progress", "at least one question"),
    ]:
        status, body = submit_update(harness, BOB, review_id, **fields)
        answer = json.loads(body)
        assert status == 200 and answer["response_action"] == "errors", fields
        assert list(answer["errors"]) == [block] and message in answer["errors"][block]
    with harness.db() as session:
        assert session.execute(select(ReviewUpdate)).first() is None
    assert (
        harness.audit_actions(actor=BOB, action="modal:review_update")
        == [("modal:review_update", "bad_input")] * 5
    )

    status, body = submit_update(
        harness,
        BOB,
        review_id,
        view_id="VUPD1",
        REVIEW_SESSIONS="3",
        REVIEW_PROGRESS="Sleeping better\n<!channel> & more",
        REVIEW_PHQ9="14",
        REVIEW_GAD7="9",
    )
    assert status == 200 and body == ""
    with harness.db() as session:
        [update] = session.execute(select(ReviewUpdate)).scalars().all()
    assert (update.user_id, update.role, update.phq9, update.gad7) == (BOB, "therapist", 14, 9)
    assert "Sleeping" not in update.answers_enc
    answers = json.loads(harness.deps.cipher.decrypt(update.answers_enc))
    assert answers == {"review_sessions": "3", "review_progress": "Sleeping better\n<!channel> & more"}

    [posted] = thread_posts(harness, f"Review update on C-{case_id}")
    assert posted["thread_ts"] == harness.root_ts(case_id)
    text = reply_text(posted)
    assert "<@U0BOB> (Therapist) added their review update" in text
    assert "&lt;!channel&gt; &amp; more" in text and "<!channel>" not in text
    assert "PHQ-9 *14*/27" in text and "GAD-7 *9*/21" in text

    prompt_ts = prompts(harness)[0]
    with harness.db() as session:
        prompt_row = session.get(OutboxMessage, latest_review(harness).prompt_outbox_id)
    edit = harness.slack.calls_to("chat.update")[-1].args
    assert edit["ts"] == prompt_row.result_ts and prompt_ts["text"] == f"Case review due on C-{case_id}"
    assert ":white_check_mark: <@U0BOB> (Therapist)" in reply_text(edit) and "(1 of 3)" in reply_text(edit)

    # The same submission delivered again changes nothing.
    submit_update(harness, BOB, review_id, view_id="VUPD1", REVIEW_PROGRESS="again")
    assert len(thread_posts(harness, f"Review update on C-{case_id}")) == 1
    details = json.loads(harness.audit_events(action="review.update_added")[0].details)
    expected = {"role": "therapist", "answered": ["review_progress", "review_sessions"], "phq9": True}
    assert details == {**expected, "gad7": True, "revision": 0}  # flags only, no scores or text

    # A revision replaces the update, says so, and prefills the modal.
    click(harness, BOB, Action.REVIEW_ADD_UPDATE, review_id)
    view = harness.last_view()
    progress = next(b for b in view["blocks"] if b.get("block_id") == "review_progress")
    assert progress["element"]["initial_value"] == "Sleeping better\n<!channel> & more"
    submit_update(harness, BOB, review_id, REVIEW_PROGRESS="Revised", REVIEW_PHQ9="12")
    assert "added a revised review update" in reply_text(
        thread_posts(harness, f"Review update on C-{case_id}")[-1]
    )
    with harness.db() as session:
        [update] = session.execute(select(ReviewUpdate)).scalars().all()
    assert (update.phq9, update.gad7, update.revisions) == (12, None, 1)


def test_prescriber_update_shows_adherence_label(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    submit_update(harness, ALICE, review_id, REVIEW_REGIMEN="sertraline 100 mg", REVIEW_ADHERENCE="partial")
    text = reply_text(thread_posts(harness, f"Review update on C-{case_id}")[-1])
    assert "*Adherence*\nSome missed doses" in text and "(Prescriber)" in text
    _, body = submit_update(harness, ALICE, review_id, REVIEW_ADHERENCE="perfect")
    assert json.loads(body)["errors"] == {"review_adherence": "Pick one of the listed adherence options."}


def test_outsiders_and_admins_cannot_add_updates_and_learn_nothing(harness):
    case_id = care_team(harness, label="Secret Label")
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    click(harness, MALLORY, Action.REVIEW_ADD_UPDATE, review_id)
    click(harness, MALLORY, Action.REVIEW_ADD_UPDATE, 999)
    first, second = [reply_text(e) for e in harness.ephemerals(MALLORY)]
    assert first == second and "don't have access" in first and "Secret" not in first
    click(harness, ADMIN, Action.REVIEW_ADD_UPDATE, review_id)
    assert "Only members of" in reply_text(harness.ephemerals(ADMIN)[0])
    assert not harness.slack.calls_to("views.open")
    assert harness.audit_actions(actor=MALLORY) == [("button:review_add_update", "denied")] * 2
    # A forged submission is refused too (by DM, the modal being closed), and saves nothing.
    submit_update(harness, MALLORY, review_id, REVIEW_GENERAL="hi")
    assert "don't have access" in reply_text(harness.posts(MALLORY)[-1])
    with harness.db() as session:
        assert session.execute(select(ReviewUpdate)).first() is None


# -- the decision -------------------------------------------------------------------------------


def test_decision_completes_the_review_and_updates_the_prompt_in_place(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    submit_update(harness, BOB, review_id, REVIEW_PROGRESS="steady", REVIEW_PHQ9="11")

    click(harness, CAROL, Action.REVIEW_DECIDE, review_id)
    view = harness.last_view()
    assert "Still waiting for: <@U0ALICE>, <@U0CAROL>" in reply_text(view)
    body = json.loads(submit_decision(harness, CAROL, review_id, None, "note"))
    assert body["errors"] == {BlockId.REVIEW_DECISION: "Pick the team's decision."}
    body = json.loads(submit_decision(harness, CAROL, review_id, "adjust", "  "))
    assert list(body["errors"]) == [BlockId.REVIEW_DECISION_NOTE]
    assert latest_review(harness).status == "open"

    assert submit_decision(harness, CAROL, review_id, "adjust", "Raise the dose; recheck in 4 weeks") == ""
    r = latest_review(harness)
    assert (r.status, r.decision, r.decided_by) == ("complete", "adjust", CAROL)
    assert harness.deps.cipher.decrypt(r.decision_note_enc) == "Raise the dose; recheck in 4 weeks"

    with harness.db() as session:
        prompt_ts = session.get(OutboxMessage, r.prompt_outbox_id).result_ts
        nudges = session.execute(select(ReviewNudge)).scalars().all()
    edit = harness.slack.calls_to("chat.update")[-1].args
    assert edit["ts"] == prompt_ts and edit["text"] == f"Case review on C-{case_id} complete"
    assert "Decision: Adjust treatment*, recorded by <@U0CAROL>" in reply_text(edit)
    assert not [b for b in edit["blocks"] if b["type"] == "actions"]  # no buttons left
    decided = thread_posts(harness, f"Case review on C-{case_id} complete")[-1]
    assert "Raise the dose" in reply_text(decided) and decided["thread_ts"] == harness.root_ts(case_id)
    assert {n.status for n in nudges} == {NudgeStatus.CANCELLED}
    assert json.loads(harness.audit_events(action="review.decided")[0].details) == {
        "decision": "adjust",
        "updates": 1,
    }

    # A second decision (another member, another modal) is refused and changes nothing.
    submit_decision(harness, BOB, review_id, "continue", "me too")
    assert "is complete (decision: Adjust treatment" in reply_text(harness.posts(BOB)[-1])
    assert latest_review(harness).decided_by == CAROL
    click(harness, BOB, Action.REVIEW_ADD_UPDATE, review_id)
    assert "is complete" in reply_text(harness.ephemerals(BOB)[-1])


def test_discharge_closes_the_case(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    submit_decision(
        harness, ALICE, latest_review(harness).id, "discharge", "Remission; back to primary care", plan=PLAN
    )
    with harness.db() as session:
        case = session.get(Case, case_id)
    assert case.status == "closed"
    assert harness.deps.cipher.decrypt(case.close_reason_enc) == "Discharged at the case review"
    steps = [a for a, _ in harness.audit_actions(case_id=case_id) if not a.startswith("message.")]
    assert steps[-3:] == ["review.decided", "review.discharge_summary_none", "case.closed"]
    harness.clock.advance(timedelta(weeks=4))
    assert sweep(harness)["reviews"] == 0


# -- nudges ------------------------------------------------------------------------------------


def test_one_nudge_per_member_inside_their_working_hours(harness):
    harness.slack.add_user(ALICE, tz="America/New_York")
    harness.slack.add_user(BOB, tz="America/New_York")
    harness.slack.add_user(CAROL, tz="Asia/Tokyo")
    case_id = care_team(harness)
    harness.clock.set(datetime(2026, 11, 27, 21, tzinfo=UTC))  # Friday 16:00 in New York
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    submit_update(harness, BOB, review_id, REVIEW_PROGRESS="fine")

    harness.clock.set(datetime(2026, 11, 29, 20, 59, tzinfo=UTC))  # 47 h 59 min later: not yet
    assert sweep(harness)["review_nudges"] == 0
    assert not harness.audit_events(action="review.nudge_deferred")

    harness.clock.set(datetime(2026, 11, 29, 21, 30, tzinfo=UTC))  # Sunday 16:30 NY, Monday 06:30 Tokyo
    assert sweep(harness)["review_nudges"] == 0
    deferred = {
        e.target: json.loads(e.details)["until"] for e in harness.audit_events(action="review.nudge_deferred")
    }
    assert deferred == {
        f"user:{ALICE}": "2026-11-30T14:00:00+00:00",  # Monday 09:00 New York
        f"user:{CAROL}": "2026-11-30T00:00:00+00:00",  # Monday 09:00 Tokyo
    }

    harness.clock.set(datetime(2026, 11, 30, 0, 5, tzinfo=UTC))
    assert sweep(harness)["review_nudges"] == 1
    [dm] = harness.posts(CAROL)
    assert dm["text"] == f"Case review on C-{case_id} is waiting for your update"
    button = dm["blocks"][1]["elements"][0]
    assert (button["action_id"], button["value"]) == (Action.REVIEW_ADD_UPDATE, str(review_id))
    assert harness.posts(ALICE) == []

    harness.clock.set(datetime(2026, 11, 30, 14, 1, tzinfo=UTC))
    assert sweep(harness)["review_nudges"] == 1
    for _ in range(3):
        harness.clock.advance(timedelta(days=1))
        assert sweep(harness)["review_nudges"] == 0
    assert len(harness.posts(ALICE)) == 1 and len(harness.posts(CAROL)) == 1 and harness.posts(BOB) == []
    nudged = harness.audit_events(action="review.nudged")
    assert [e.target for e in nudged] == [f"user:{CAROL}", f"user:{ALICE}"]
    assert all(e.actor == "app" and e.source == "scheduler" for e in nudged)

    # The button in the DM opens the update modal; errors there come back in the DM.
    click(harness, CAROL, Action.REVIEW_ADD_UPDATE, review_id, channel="D0CAROL")
    assert harness.last_view()["private_metadata"] == str(review_id)


def test_nudges_are_canceled_for_those_who_answered_or_left(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")  # Monday 10:00 New York
    review_id = latest_review(harness).id
    harness.command(ALICE, f"remove C-{case_id} <@{CAROL}>")
    with harness.db() as session:
        session.merge(SlackUser(user_id=ALICE, tz="America/New_York", fetched_at=harness.clock.now()))
    harness.clock.advance(timedelta(hours=48))  # Wednesday 10:00 New York
    submit_update(harness, ALICE, review_id, REVIEW_REGIMEN="unchanged")
    assert sweep(harness)["review_nudges"] == 1
    assert [p["channel"] for p in harness.posts() if p["text"].endswith("waiting for your update")] == [BOB]
    reasons = {
        e.target: json.loads(e.details)["reason"]
        for e in harness.audit_events(action="review.nudge_cancelled")
    }
    assert reasons == {f"user:{CAROL}": "left_team"}
    with harness.db() as session:
        statuses = {n.user_id: n.status for n in session.execute(select(ReviewNudge)).scalars()}
    assert statuses == {ALICE: "cancelled", BOB: "sent", CAROL: "cancelled"}


def test_nudge_delay_and_working_hours_are_configurable(make_harness, slack):
    slack.add_user(ALICE, tz="Europe/London")
    h = make_harness(
        CARETHREAD_REVIEW_NUDGE_HOURS="2",
        CARETHREAD_WORKING_HOURS="07:00-08:00",
        CARETHREAD_WORKING_DAYS="sat-sun",
    )
    try:
        h.command(ALICE, "create Solo")
        review(h, ALICE, "C-1 now")  # Monday 15:00 London
        h.clock.advance(timedelta(hours=2))
        assert sweep(h)["review_nudges"] == 0
        until = json.loads(h.audit_events(action="review.nudge_deferred")[0].details)["until"]
        assert until == "2026-11-28T07:00:00+00:00"  # Saturday 07:00 London
        h.clock.set(datetime(2026, 11, 28, 7, 30, tzinfo=UTC))
        assert sweep(h)["review_nudges"] == 1
    finally:
        h.close()


# -- scores in /case show, list, App Home --------------------------------------------------------


def _scored_review(h, case_id: int, phq9: str, gad7: str = "") -> None:
    review(h, ALICE, f"C-{case_id} now")
    review_id = latest_review(h).id
    submit_update(h, BOB, review_id, REVIEW_PHQ9=phq9, **({"REVIEW_GAD7": gad7} if gad7 else {}))
    submit_decision(h, ALICE, review_id, "continue", "keep going")


def test_case_show_has_the_score_trend_and_the_not_improving_flag(harness):
    case_id = care_team(harness)
    harness.command(ALICE, f"show C-{case_id}")
    assert "*Reviews* every 2 weeks" in harness.last_reply_text()
    _scored_review(harness, case_id, "18", "15")
    harness.clock.advance(timedelta(weeks=4))
    _scored_review(harness, case_id, "14")
    harness.clock.advance(timedelta(weeks=4))
    _scored_review(harness, case_id, "12", "9")
    harness.command(BOB, f"show C-{case_id}")
    shown = harness.last_reply_text()
    # Dated scores of this episode (the measures workflow's section), each citing its scale.
    assert "*Scores* (episode 1, 8 weeks in treatment)" in shown
    assert "PHQ-9 12/27 moderate · 18 → 14 → 12 · 33 % lower than baseline 18 (better)" in shown
    assert "GAD-7 9/21 mild · 15 → 9 · 40 % lower than baseline 15 (better)" in shown
    assert ":warning: *not improving* (8+ weeks, PHQ-9 ≥ 10 and under a 50 % drop)" in shown

    harness.clock.advance(timedelta(weeks=2))
    _scored_review(harness, case_id, "8")
    harness.command(BOB, f"show C-{case_id}")
    assert "PHQ-9 8/27 mild · 18 → 14 → 12 → 8 · 56 % lower than baseline 18 (better)" in (
        harness.last_reply_text()
    )
    assert "response (a drop of 50 % or more)" in harness.last_reply_text()
    assert "not improving" not in harness.last_reply_text()


def test_list_and_app_home_show_reviews_waiting_for_my_update(harness):
    case_id = care_team(harness)
    other = care_team(harness, label="Other")
    review(harness, ALICE, f"C-{case_id} now")
    listed = review(harness, BOB, "list")
    assert f"*C-{case_id}* review open since" in listed and "*waiting for your update*" in listed
    assert f"*C-{other}* next review" in listed

    harness.event({"type": "app_home_opened", "user": BOB, "tab": "home", "channel": "D0BOB"})
    home = reply_text(harness.slack.wait_for("views.publish")[-1].args["view"])
    assert f"*C-{case_id}* Case review waiting for your update" in home

    submit_update(harness, BOB, latest_review(harness).id, REVIEW_PROGRESS="ok")
    assert "your update is in" in review(harness, BOB, "list")
    harness.event({"type": "app_home_opened", "user": BOB, "tab": "home", "channel": "D0BOB"})
    home = reply_text(harness.slack.wait_for("views.publish", 2)[-1].args["view"])
    assert "Case review waiting" not in home and "Nothing is waiting for you" in home
    assert ("review.listed", "ok") in harness.audit_actions(actor=BOB)


def test_every_step_is_in_a_verifiable_audit_chain(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} every 1 week on monday at 10:00")
    harness.clock.advance(timedelta(days=7))
    sweep(harness)
    review_id = latest_review(harness).id
    submit_update(harness, BOB, review_id, REVIEW_PROGRESS="Sensitive words", REVIEW_PHQ9="20")
    submit_decision(harness, ALICE, review_id, "step-up", "Sensitive plan")
    harness.clock.advance(timedelta(days=2))
    sweep(harness)
    names = {e.action for e in harness.audit_events()}
    assert {
        "review.cadence_set",
        "review.fired",
        "review.started",
        "review.update_added",
        "review.decided",
        "message.delivered",
    } <= names
    for event in harness.audit_events():
        assert "Sensitive" not in event.details and '"20"' not in event.details
    with harness.db() as session:
        assert verify(session, harness.deps.audit_key).ok


def test_start_now_reply_and_audit(harness):
    case_id = care_team(harness)
    assert "its prompt is in the case thread" in review(harness, BOB, f"C-{case_id} now")
    started = harness.audit_events(action="review.started")[0]
    assert started.actor == BOB and started.source == "command" and started.target == "review:1"
    with harness.db() as session:
        assert session.execute(select(Review)).scalar_one().trigger == "command"


def test_nudge_uses_the_fallback_zone_when_slack_cannot_say(make_harness):
    h = make_harness(CARETHREAD_FALLBACK_TZ="Asia/Kolkata")
    try:
        h.slack.fail("users.info", status=500, times=20)  # Slack never tells us Alice's zone
        h.command(ALICE, "create Solo")
        review(h, ALICE, "C-1 now")  # Monday 15:00 UTC
        h.clock.advance(timedelta(hours=48))  # Wednesday 15:00 UTC = 20:30 in Kolkata
        assert sweep(h)["review_nudges"] == 0
        event = h.audit_events(action="review.nudge_deferred")[0]
        details = json.loads(event.details)
        assert details == {"until": "2026-11-26T03:30:00+00:00", "tz": "Asia/Kolkata"}  # Thursday 09:00 IST
    finally:
        h.close()
