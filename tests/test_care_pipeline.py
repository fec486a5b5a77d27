"""Issue 15 through the whole pipeline: who does what on a case (and through a handoff), no
open risk left behind when a case closes, handoff posts updated in place and `/handoff cancel`,
and the side-effect form's free-text red-flag check and escalation with no case manager.
Signed requests in; database rows, audit events and what the stand-in Slack saw out."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.ids import Action, BlockId, Callback
from bot.scheduler import run_sweep
from devtools.slackreq import checkboxes_value
from storage.cases import Case, CaseResponsibility
from storage.handoffs import Handoff, HandoffStatus
from storage.side_effects import Severity, SideEffectReport
from tests.side_effect_helpers import P1, THERAPIST, report_values
from tests.support import ADMIN, CHANNEL, care_team, make_settings, reply_text
from tests.test_handoffs_pipeline import (
    NEWDOC,
    PRESCRIBER,
    answer,
    click,
    mention,
    send_handoff,
    thread_posts,
)

CM = "U0CASEM"
PHARM = "U0PHARM"


def team(h) -> int:
    """C-1: a prescriber and a therapist (split treatment)."""
    return care_team(h, {PRESCRIBER: "prescriber", THERAPIST: "therapist"}, label="Blue Heron 42")


def holders(h, case_id: int = 1) -> dict[str, str]:
    """What `/case roles` shows, read back as responsibility word -> holder mention."""
    h.command(THERAPIST, f"roles C-{case_id}")
    shown = h.last_reply_text()
    lines = [line for line in shown.splitlines() if line.startswith("• ")]
    return {line[2:].split(":")[0]: line.split(": ", 1)[1] for line in lines}


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def card_text(h) -> str:
    """The case card as it reads now (its latest update, or the post)."""
    updates = [
        c.args for c in h.slack.calls_to("chat.update") if c.args.get("text") == "Case C-1 care-team thread"
    ]
    return reply_text(updates[-1] if updates else h.posts(CHANNEL)[0])


def confirm_close(h, value: str) -> None:
    """Click Close anyway on the (ephemeral) list of open risks, which the answer replaces."""
    h.action(PRESCRIBER, Action.CASE_CLOSE_CONFIRM, value, response_url=f"{h.slack.url}respond/close")


def submit(h, user: str, case_id: int, **fields: Any):
    confirm = fields.pop("confirm", None)
    values = report_values(other_medication="clozapine", **fields)
    if confirm is not None:
        values[BlockId.SE_NOT_RED_FLAG] = checkboxes_value(["confirmed"] if confirm else [])
    return h.submit(user, Callback.SIDE_EFFECT_REPORT, values, private_metadata=json.dumps({"case": case_id}))


# -- who does what ------------------------------------------------------------------------------


def test_responsibilities_default_from_roles_and_change_with_case_roles(harness):
    h = harness
    team(h)
    shown = holders(h)
    assert shown["Monitoring suicide risk"] == f"<@{THERAPIST}> _(from their role)_"
    assert shown["Refills"] == f"<@{PRESCRIBER}> _(from their role)_"
    assert shown["After-hours and crisis contact"] == f"<@{PRESCRIBER}> _(from their role)_"
    assert "Who does what" in card_text(h) and f"Refills: <@{PRESCRIBER}>" in card_text(h)

    h.command(PRESCRIBER, f"roles C-1 after-hours {mention(THERAPIST)}")
    assert "now responsible for after-hours and crisis contact on C-1" in h.last_reply_text()
    [row] = h.rows(CaseResponsibility, case_id=1)
    assert (row.duty, row.user_id, row.set_by) == ("after-hours", THERAPIST, PRESCRIBER)
    assert holders(h)["After-hours and crisis contact"] == f"<@{THERAPIST}>"
    assert f"After-hours and crisis contact: <@{THERAPIST}>" in card_text(h)
    note = [p for p in thread_posts(h) if "responsible for" in reply_text(p)]
    assert note and f"(was <@{PRESCRIBER}>)" in reply_text(note[-1])
    [event] = h.audit_events(action="responsibility.assigned")
    assert event.target == f"user:{THERAPIST}" and json.loads(event.details)["duty"] == "after-hours"
    h.command(PRESCRIBER, "show C-1")
    assert f"After-hours and crisis contact: <@{THERAPIST}>" in h.last_reply_text()

    # Bad input changes nothing and says how to do it right.
    h.command(PRESCRIBER, f"roles C-1 haircuts {mention(THERAPIST)}")
    assert "`haircuts` is not a responsibility" in h.last_reply_text()
    h.command(PRESCRIBER, f"roles C-1 refills {mention(NEWDOC)}")
    assert "is not on C-1's care team" in h.last_reply_text()
    h.command(PRESCRIBER, f"roles C-1 after-hours {mention(THERAPIST)}")
    assert "already holds" in h.last_reply_text()
    assert len(h.rows(CaseResponsibility, case_id=1)) == 1
    # Outsiders are refused like for any case.
    h.command(NEWDOC, "roles C-1")
    assert "don't have access" in h.last_reply_text()
    assert h.audit_events(action="command:/case", actor=NEWDOC)[-1].outcome == "denied"


def test_a_handoff_carries_the_senders_responsibilities_and_the_acceptance_names_them(harness):
    h = harness
    team(h)
    h.command(PRESCRIBER, f"roles C-1 suicide-risk {mention(PRESCRIBER)}")
    send_handoff(h)  # a transfer of the prescriber's place to NEWDOC
    [handoff] = h.rows(Handoff)
    click(h, NEWDOC, Action.HANDOFF_ACCEPT, handoff.id)  # the modal says what accepting takes over
    assert "You also take over what" in reply_text({"blocks": h.last_view()["blocks"]})
    assert "Monitoring suicide risk; Refills" in reply_text({"blocks": h.last_view()["blocks"]})
    answer(h, NEWDOC, handoff.id)

    moved = {
        "Monitoring suicide risk",
        "Refills",
        "Laboratory monitoring (lithium levels, clozapine blood counts)",
    }
    shown = holders(h)
    for title in moved | {"The patient's questions about medication", "After-hours and crisis contact"}:
        assert shown[title] == f"<@{NEWDOC}>", title
    assert h.get(Handoff, handoff.id).duties.split(",")[0] == "suicide-risk"
    for told in (h.dms(PRESCRIBER)[-1], [p for p in thread_posts(h) if p["text"].endswith("accepted")][-1]):
        body = reply_text(told)
        assert f"Responsibilities now with <@{NEWDOC}>" in body
        assert all(title in body for title in moved)
    [carried] = h.audit_events(action="responsibility.carried")
    assert json.loads(carried.details)["via"] == f"handoff:{handoff.id}"
    assert f"Monitoring suicide risk: <@{NEWDOC}>" in card_text(h)


def test_coverage_carries_responsibilities_and_gives_them_back_when_it_ends(harness):
    h = harness
    team(h)
    send_handoff(h, kind="coverage", until="2026-11-26")
    [handoff] = h.rows(Handoff)
    answer(h, NEWDOC, handoff.id)
    assert holders(h)["Refills"] == f"<@{NEWDOC}>"
    assert "They go back to you when the coverage ends" in reply_text(h.dms(PRESCRIBER)[-1])

    h.clock.advance(timedelta(days=3))
    run_sweep(h.deps)
    h.settle()
    assert h.get(Handoff, handoff.id).status == HandoffStatus.ENDED
    assert holders(h)["Refills"] == f"<@{PRESCRIBER}>"
    # The thread post says the coverage ended, in place.
    assert "coverage ended" in reply_text(h.updates(_ts(h, handoff.thread_outbox_id))[-1])


# -- no open risk left behind --------------------------------------------------------------------


def _ts(h, outbox_id: int | None) -> str:
    from storage.core import OutboxMessage

    row = h.get(OutboxMessage, outbox_id)
    assert row.result_ts
    return row.result_ts


def test_closing_with_open_risks_asks_first_then_cancels_handoffs_and_ends_coverage(harness):
    h = harness
    team(h)
    submit(h, THERAPIST, 1, red_flags=("7",))  # chest pain on clozapine: urgent
    [report] = h.rows(SideEffectReport)
    assert report.severity == Severity.URGENT
    send_handoff(h)  # pending transfer to NEWDOC
    send_handoff(h, receiver=CM, kind="coverage", until="2026-11-30")
    pending, covering = h.rows(Handoff)
    answer(h, CM, covering.id)

    h.command(PRESCRIBER, "close C-1 moved away")
    held = h.last_reply()
    body = reply_text(held)
    assert "C-1 was not closed" in body and held["text"] == "C-1 was not closed: it has open items"
    assert f"Urgent side-effect report *{report.ref}*: not acknowledged" in body
    assert f"Handoff of *C-1* from <@{PRESCRIBER}> to <@{NEWDOC}>" in body
    assert "clozapine" not in body  # ids and statuses only
    assert h.get(Case, 1).status == "open"
    assert h.audit_events(action="case.close_held")[0].case_id == 1

    [close] = buttons(held)
    assert close["action_id"] == Action.CASE_CLOSE_CONFIRM and "confirm" in close
    confirm_close(h, close["value"])
    case = h.get(Case, 1)
    assert case.status == "closed" and h.deps.cipher.decrypt(case.close_reason_enc) == "moved away"
    closed = json.loads(h.audit_events(action="case.closed")[0].details)
    assert closed["confirmed"] is True and closed["open_risks"] == 2
    assert "Closed C-1" in h.last_reply_text()

    # The pending handoff: canceled, both people told, the receiver's buttons gone, the post updated.
    canceled = h.get(Handoff, pending.id)
    assert canceled.status == HandoffStatus.CANCELED and canceled.end_outcome == "case_closed"
    assert "canceled because the case was closed" in reply_text(h.dms(NEWDOC)[-1])
    assert any("canceled because the case was closed" in reply_text(m) for m in h.dms(PRESCRIBER))
    request_update = h.updates(_ts(h, canceled.request_outbox_id))[-1]
    assert not buttons(request_update)
    assert "canceled because the case was closed" in reply_text(
        h.updates(_ts(h, canceled.thread_outbox_id))[-1]
    )
    # Coverage on the closed case ends, and its covering member is told.
    ended = h.get(Handoff, covering.id)
    assert ended.status == HandoffStatus.ENDED and ended.end_outcome == "case_closed"
    assert "ended because the case was closed" in reply_text(h.dms(CM)[-1])
    assert [e.outcome for e in h.audit_events(action="handoff.canceled")] == ["ok"]

    # A second click (or a retry) closes nothing twice.
    confirm_close(h, close["value"])
    assert "already closed" in h.last_reply_text()
    assert len(h.audit_events(action="case.closed")) == 1
    confirm_close(h, '{"case": "C-1"}')
    assert "no longer works" in h.last_reply_text()


def test_closing_with_nothing_open_closes_at_once(harness):
    h = harness
    team(h)
    h.command(PRESCRIBER, "close C-1")
    assert h.get(Case, 1).status == "closed" and "Closed C-1" in h.last_reply_text()
    assert not h.audit_events(action="case.close_held")


# -- handoffs: the post in place, cancel ---------------------------------------------------------


def test_handoff_post_is_updated_in_place_and_the_sender_can_cancel(harness):
    h = harness
    team(h)
    send_handoff(h)
    [first] = h.rows(Handoff)
    answer(h, NEWDOC, first.id, accept=False)
    declined = reply_text(h.updates(_ts(h, first.thread_outbox_id))[-1])
    assert "declined by" in declined and "Waiting for" not in declined

    send_handoff(h)
    second = h.rows(Handoff)[1]
    h.command(THERAPIST, "cancel C-1", command="/handoff")  # not the sender
    assert "no handoff of C-1 waiting for an answer" in h.last_reply_text()
    assert h.get(Handoff, second.id).status == HandoffStatus.PENDING
    h.command(PRESCRIBER, "cancel C-1", command="/handoff")
    assert f"Canceled your handoff of C-1 to <@{NEWDOC}>" in h.last_reply_text()
    canceled = h.get(Handoff, second.id)
    assert canceled.status == HandoffStatus.CANCELED and canceled.end_outcome == "by_sender"
    assert f"was canceled by <@{PRESCRIBER}>" in reply_text(h.dms(NEWDOC)[-1])
    assert "canceled by" in reply_text(h.updates(_ts(h, canceled.thread_outbox_id))[-1])
    assert not buttons(h.updates(_ts(h, canceled.request_outbox_id))[-1])
    answer(h, NEWDOC, second.id)
    assert "was canceled" in reply_text(h.dms(NEWDOC)[-1])
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}
    h.command(PRESCRIBER, "cancel C-1", command="/handoff")
    assert "nothing to cancel" in h.last_reply_text()
    h.command(PRESCRIBER, "cancel", command="/handoff")
    assert "takes one case id" in h.last_reply_text()

    send_handoff(h)
    third = h.rows(Handoff)[2]
    answer(h, NEWDOC, third.id)
    accepted = reply_text(h.updates(_ts(h, third.thread_outbox_id))[-1])
    assert f"accepted by <@{NEWDOC}>" in accepted


# -- the side-effect form: free text naming a red flag, escalation with no case manager ------------


def test_free_text_naming_a_red_flag_asks_to_tick_it_and_can_be_confirmed(harness):
    h = harness
    care_team(h, {THERAPIST: "therapist", P1: "prescriber"})
    response = submit(h, THERAPIST, 1, burden="1", notes="Says she fainted at work on Tuesday")
    errors = json.loads(response.body)["errors"]
    assert "“fainted”, which can be a red flag" in errors[BlockId.SE_NOTES]
    assert "None of these is a red flag" in errors[BlockId.SE_NOTES]
    assert h.rows(SideEffectReport) == []

    response = submit(h, THERAPIST, 1, burden="1", other_symptoms="can\u2019t stop shaking", confirm=False)
    assert BlockId.SE_SYMPTOMS_OTHER in json.loads(response.body)["errors"]

    # Confirmed not a red flag: saved as it is, and the audit trail says so.
    submit(h, THERAPIST, 1, burden="1", notes="Says she fainted at work on Tuesday", confirm=True)
    [saved] = h.rows(SideEffectReport)
    assert saved.severity == Severity.LOW
    assert json.loads(h.audit_events(action="side_effect.reported")[0].details)["red_flag_words_cleared"] == 1
    # Ticking the red flag instead makes it urgent.
    submit(h, THERAPIST, 1, burden="1", notes="Says she fainted at work", red_flags=("15",))
    assert h.rows(SideEffectReport)[1].severity == Severity.URGENT


def test_intensity_five_raises_the_priority_to_high_and_says_why(harness):
    h = harness
    care_team(h, {THERAPIST: "therapist", P1: "prescriber"})
    submit(h, THERAPIST, 1, burden="1", intensity="5")
    [saved] = h.rows(SideEffectReport)
    assert saved.severity == Severity.HIGH
    receipt = reply_text(h.dms(THERAPIST)[-1])
    assert "Priority: *High* (FIBSER intensity 5/6 raises it to at least high)" in receipt


def test_escalation_with_no_case_manager_goes_to_another_member_or_the_admin_channel(
    tmp_path, engine, slack, clock
):
    from tests.support import Harness

    h = Harness(make_settings(tmp_path, slack, CARETHREAD_ADMIN_CHANNEL="C0ADMINS"), engine, slack, clock)
    try:
        care_team(h, {THERAPIST: "therapist", P1: "prescriber", PHARM: "pharmacist"})
        care_team(h, {P1: "prescriber", THERAPIST: "therapist"}, label="Two Only")
        submit(h, THERAPIST, 1, red_flags=("0",))
        submit(h, THERAPIST, 2, red_flags=("0",))
        h.clock.advance(timedelta(hours=1))
        run_sweep(h.deps)
        h.settle()
        # Case 1: the pharmacist, not the prescriber who did not answer.
        [to_pharmacist] = h.posts(PHARM, starting="Escalation: ")
        assert "get a prescriber to see it *now*" in reply_text(to_pharmacist)
        assert "today" not in reply_text(to_pharmacist)
        assert not h.posts(P1, starting="Escalation: ")
        # Case 2: nobody but the prescriber and the reporter: the admin channel, ids only.
        [to_admins] = h.posts("C0ADMINS", starting="Escalation: ")
        assert to_admins["text"] == "Escalation: urgent side-effect report on C-2 not acknowledged"
        assert "Nobody else is on the care team" in reply_text(to_admins)
        assert "clozapine" not in reply_text(to_admins)
        escalated = [json.loads(e.details) for e in h.audit_events(action="side_effect.escalated")]
        assert [e["admin_channel"] for e in escalated] == [False, True]
        update = [
            p for p in h.dms(THERAPIST) if p["text"].startswith("Update on your side-effect report on C-2")
        ]
        assert "to the clinic's admins" in reply_text(update[-1])
    finally:
        h.close()


def test_a_case_admin_is_refused_nothing_they_may_do(harness):
    """An admin not on the team can see who does what (admins see every case)."""
    h = harness
    team(h)
    h.command(ADMIN, "roles C-1")
    assert "Who does what" in h.last_reply_text()
