"""Issue 14, reviews: an open review is bumped in the thread when the next one falls due; only
the prescriber, therapist and case manager record the decision; discharge needs a
relapse-prevention plan and sends primary care a summary (or says there is nobody to send it
to). Signed requests and sweeps into the real app; assertions on Slack, the database, the audit."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.ids import Action, BlockId
from bot.scheduler import run_sweep
from storage.cases import Case
from tests.reviews_helpers import PLAN, click, latest_review, review, submit_decision, submit_update
from tests.support import ALICE, BOB, CAROL, DAN, care_team, reply_text

PCP_TEAM = {ALICE: "prescriber", BOB: "therapist", CAROL: "case-manager", DAN: "pcp"}


def sweep(h) -> dict:
    result = run_sweep(h.deps)
    h.settle()
    return result


def bumps(h, case_id: int) -> list[dict]:
    return h.posts(starting=f"Case review on C-{case_id} still open")


# -- the overdue bump --------------------------------------------------------------------------


def test_an_open_review_is_bumped_once_per_due_time_mentioning_who_has_not_answered(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} every 1 week")
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id
    assert submit_update(harness, BOB, review_id, REVIEW_PROGRESS="Attending weekly")[0] == 200

    harness.clock.advance(timedelta(days=8))  # the next weekly review is due; this one is 8 days old
    sweep(harness)
    [bump] = bumps(harness, case_id)
    assert bump["text"] == f"Case review on C-{case_id} still open, 8 days overdue"  # ids only
    assert bump["thread_ts"] == harness.root_ts(case_id)
    text = reply_text(bump)
    assert f"<@{ALICE}>" in text and f"<@{CAROL}>" in text and f"<@{BOB}>" not in text
    buttons = [e for b in bump["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(e["action_id"], e["value"]) for e in buttons] == [
        (Action.REVIEW_ADD_UPDATE, str(review_id)),
        (Action.REVIEW_DECIDE, str(review_id)),
    ]
    event = harness.audit_events(action="review.due_while_open")[-1]
    assert event.target == f"review:{review_id}"
    assert json.loads(event.details)["overdue_days"] == 8 and json.loads(event.details)["waiting"] == 2

    # The same due time is not bumped twice, however often the sweep runs.
    sweep(harness)
    sweep(harness)
    assert len(bumps(harness, case_id)) == 1

    # The next due time bumps again, with the days counted from the review's own due time.
    harness.clock.advance(timedelta(weeks=1))
    sweep(harness)
    assert [b["text"] for b in bumps(harness, case_id)][-1].endswith("15 days overdue")
    assert len(bumps(harness, case_id)) == 2

    # Once decided, the next due time posts a fresh prompt, not a bump.
    submit_decision(harness, CAROL, review_id, "continue", "Keep going")
    harness.clock.advance(timedelta(weeks=1))
    sweep(harness)
    assert len(bumps(harness, case_id)) == 2
    assert latest_review(harness).id != review_id


# -- who decides -------------------------------------------------------------------------------


def test_only_prescriber_therapist_or_case_manager_records_the_decision(harness):
    case_id = care_team(harness, PCP_TEAM)
    review(harness, ALICE, f"C-{case_id} now")
    review_id = latest_review(harness).id

    click(harness, DAN, Action.REVIEW_DECIDE, review_id)
    refusal = reply_text(harness.ephemerals(DAN)[-1])
    assert "Only the prescriber, the therapist or the case manager" in refusal
    assert not harness.slack.calls_to("views.open")
    submit_decision(harness, DAN, review_id, "continue", "Looks fine to me")  # a forged submission
    assert "Only the prescriber, the therapist or the case manager" in reply_text(harness.dms(DAN)[-1])
    assert latest_review(harness).status == "open"
    assert [
        e.outcome for e in harness.audit_events(actor=DAN) if "decision" in e.action or "decide" in e.action
    ] == [
        "denied",
        "denied",
    ]

    click(harness, CAROL, Action.REVIEW_DECIDE, review_id)  # the case manager may
    assert harness.last_view()["callback_id"] == "review_decision"
    submit_decision(harness, CAROL, review_id, "adjust", "Raise the dose")
    assert (latest_review(harness).status, latest_review(harness).decided_by) == ("complete", CAROL)


# -- discharge ---------------------------------------------------------------------------------


def test_discharge_needs_a_plan_and_sends_primary_care_the_plan_and_score_course(harness):
    case_id = care_team(harness, PCP_TEAM)
    review(harness, ALICE, f"C-{case_id} now")
    first = latest_review(harness).id
    submit_update(harness, BOB, first, REVIEW_PHQ9="18", REVIEW_GAD7="12")
    submit_decision(harness, ALICE, first, "continue", "Keep going")
    harness.clock.advance(timedelta(weeks=10))
    review(harness, ALICE, f"C-{case_id} now")
    second = latest_review(harness).id
    submit_update(harness, BOB, second, REVIEW_PHQ9="4", REVIEW_GAD7="5")

    # Without the plan the modal stays open with every missing part named; nothing changes.
    body = json.loads(submit_decision(harness, ALICE, second, "discharge", "Remission"))
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {
        BlockId.REVIEW_PLAN_WARNING_SIGNS,
        BlockId.REVIEW_PLAN_MEDICATION,
        BlockId.REVIEW_PLAN_CONTACTS,
    }
    assert latest_review(harness).status == "open"
    partial = {"REVIEW_PLAN_WARNING_SIGNS": PLAN["REVIEW_PLAN_WARNING_SIGNS"]}
    body = json.loads(submit_decision(harness, ALICE, second, "discharge", "Remission", plan=partial))
    assert set(body["errors"]) == {BlockId.REVIEW_PLAN_MEDICATION, BlockId.REVIEW_PLAN_CONTACTS}

    assert submit_decision(harness, ALICE, second, "discharge", "Remission", plan=PLAN) == ""
    decided = latest_review(harness)
    stored = json.loads(harness.deps.cipher.decrypt(decided.relapse_plan_enc))
    assert stored == {
        "warning_signs": PLAN["REVIEW_PLAN_WARNING_SIGNS"],
        "medication": PLAN["REVIEW_PLAN_MEDICATION"],
        "contacts": PLAN["REVIEW_PLAN_CONTACTS"],
    }
    assert "sertraline" not in decided.relapse_plan_enc  # encrypted at rest

    [summary] = harness.dms(DAN)[-1:]
    assert summary["text"] == f"Discharge summary for C-{case_id}"  # ids only in the notification
    text = reply_text(summary)
    for part in PLAN.values():
        assert part in text
    assert "PHQ-9 4/27 minimal · 18 → 4" in text and "GAD-7 5/21 mild · 12 → 5" in text and "Kroenke" in text
    assert not [d for d in harness.dms(BOB) if d["text"].startswith("Discharge summary")]  # PCP only

    thread = harness.posts(starting=f"Case review on C-{case_id} complete")[-1]
    assert f"sent by DM to <@{DAN}>" in reply_text(thread) and "Relapse-prevention plan" in reply_text(thread)
    with harness.db() as session:
        assert session.get(Case, case_id).status == "closed"
    steps = [a for a, _ in harness.audit_actions(case_id=case_id) if not a.startswith("message.")]
    assert steps[-3:] == ["review.decided", "review.discharge_summary_sent", "case.closed"]
    assert json.loads(harness.audit_events(action="review.discharge_summary_sent")[0].details) == {
        "recipients": 1
    }


def test_discharge_without_a_primary_care_member_says_no_summary_was_sent(harness):
    case_id = care_team(harness)
    review(harness, ALICE, f"C-{case_id} now")
    submit_decision(harness, BOB, latest_review(harness).id, "discharge", "Remission", plan=PLAN)
    thread = harness.posts(starting=f"Case review on C-{case_id} complete")[-1]
    assert "No primary care member is on the team: no discharge summary was sent" in reply_text(thread)
    assert not [p for p in harness.posts() if p["text"].startswith("Discharge summary")]
    assert ("review.discharge_summary_none", "ok") in harness.audit_actions(case_id=case_id)
