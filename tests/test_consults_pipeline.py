"""Issue 14, psychiatric consultation end to end: Request consultation on a case that is not
improving, the consultant's recommendation, the prescriber's Accept / Modify / Decline, one
reminder per stage, and the consultant's minutes per case. Signed requests and sweeps into the
real app; assertions on what Slack received, the database and the audit trail."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.consults import commands as parsing
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import Help
from bot.scheduler import run_sweep
from devtools import slackreq
from storage.consults import Consult, ConsultMinutes
from storage.core import OutboxMessage
from tests.reviews_helpers import latest_review, review, submit_decision, submit_update
from tests.support import ADMIN, ALICE, BOB, CAROL, DAN, MALLORY, care_team, reply_text

EVE = "U0EVE"
CONSULT_TEAM = {ALICE: "prescriber", BOB: "therapist", CAROL: "case-manager", DAN: "consultant"}


def sweep(h) -> dict:
    result = run_sweep(h.deps)
    h.settle()
    return result


def consult(h, user: str, text: str) -> str:
    h.command(user, text, command=Command.CONSULT)
    return h.last_reply_text()


def not_improving(h, team=CONSULT_TEAM) -> int:
    """A case 10 weeks into treatment with PHQ-9 18 then 16: Collaborative Care's not improving."""
    case_id = care_team(h, team)
    for phq9 in ("18", "16"):
        review(h, ALICE, f"C-{case_id} now")
        review_id = latest_review(h).id
        submit_update(h, BOB, review_id, REVIEW_PHQ9=phq9)
        submit_decision(h, ALICE, review_id, "continue", "Keep going")
        h.clock.advance(timedelta(weeks=5))
    return case_id


def buttons(message: dict) -> list[dict]:
    found = []
    for block in message.get("blocks", []):
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if (block.get("accessory") or {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def home(h, user: str) -> str:
    """The App Home tab `user` is shown now."""
    before = len(h.slack.calls_to("views.publish"))
    h.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    return reply_text(h.slack.wait_for("views.publish", before + 1)[-1].args["view"])


def the_consult(h) -> Consult:
    [row] = h.rows(Consult)
    return row


def submit_recommendation(h, user: str, consult_id: int, text: str, minutes: str = "") -> str:
    values = {
        BlockId.CONSULT_RECOMMENDATION.value: slackreq.text_value(text),
        BlockId.CONSULT_MINUTES.value: slackreq.text_value(minutes),
    }
    return h.submit(user, Callback.CONSULT_RECOMMEND, values, private_metadata=str(consult_id)).body


def submit_response(h, user: str, consult_id: int, choice: str, note: str) -> str:
    values = {BlockId.CONSULT_RESPONSE_NOTE.value: slackreq.text_value(note)}
    return h.submit(user, Callback.CONSULT_RESPOND, values, private_metadata=f"{consult_id}:{choice}").body


# -- the loop ----------------------------------------------------------------------------------


def test_full_consultation_loop_with_one_reminder_per_stage(harness):
    case_id = not_improving(harness)

    # /case show offers Request consultation on a case that is not improving.
    harness.command(BOB, f"show C-{case_id}")
    offered = [b for b in buttons(harness.last_reply()) if b["action_id"] == Action.CONSULT_REQUEST]
    assert [b["value"] for b in offered] == [str(case_id)]

    harness.action(BOB, Action.CONSULT_REQUEST, str(case_id))
    harness.action(BOB, Action.CONSULT_REQUEST, str(case_id))  # a double click asks once
    row = the_consult(harness)
    assert (row.status, row.requested_by, row.asked) == ("requested", BOB, [DAN])
    assert "already open" in reply_text(harness.ephemerals(BOB)[-1])
    [request] = harness.dms(DAN)
    assert request["text"] == f"Consultation requested on C-{case_id}"  # ids only
    assert "PHQ-9 16/27 moderately severe · 18 → 16" in reply_text(request) and "Not improving" in reply_text(
        request
    )
    assert [(b["action_id"], b["value"]) for b in buttons(request)] == [
        (Action.CONSULT_RECOMMEND, str(row.id))
    ]
    [in_thread] = harness.posts(starting=f"Consultation requested on C-{case_id}", channel="C0CARE")
    assert in_thread["thread_ts"] == harness.root_ts(case_id) and f"<@{DAN}>" in reply_text(in_thread)
    harness.command(BOB, f"show C-{case_id}")  # no second request offered while one is open
    assert not [b for b in buttons(harness.last_reply()) if b["action_id"] == Action.CONSULT_REQUEST]
    assert "waiting for the consultant's recommendation" in harness.last_reply_text()

    assert "Consultation waiting for your recommendation" in home(harness, DAN)

    # Only the consultant records the recommendation.
    harness.action(BOB, Action.CONSULT_RECOMMEND, str(row.id))
    assert "Only the psychiatric consultant" in reply_text(harness.ephemerals(BOB)[-1])
    harness.action(DAN, Action.CONSULT_RECOMMEND, str(row.id), channel=DAN)
    form = harness.last_view()
    assert form["callback_id"] == Callback.CONSULT_RECOMMEND and form["private_metadata"] == str(row.id)
    assert "PHQ-9 16/27 moderately severe · 18 → 16" in reply_text(form)

    # The stage's one reminder: the consultant, after CARETHREAD_CONSULT_REMIND_DAYS (3).
    harness.clock.advance(timedelta(days=3))
    sweep(harness)
    sweep(harness)
    reminders = [d for d in harness.dms(DAN) if d["text"].startswith("Reminder: consultation")]
    assert [r["text"] for r in reminders] == [
        f"Reminder: consultation on C-{case_id} is waiting for the recommendation"
    ]

    body = json.loads(submit_recommendation(harness, DAN, row.id, "Switch to an SNRI", minutes="many"))
    assert body["errors"] == {
        BlockId.CONSULT_MINUTES: "Minutes are a whole number from 1 to 600; leave it empty to log none."
    }
    assert (
        submit_recommendation(harness, DAN, row.id, "Switch to an SNRI; recheck PHQ-9 in 4 weeks", "25") == ""
    )
    row = the_consult(harness)
    assert (row.status, row.recommended_by) == ("recommended", DAN)
    assert (
        harness.deps.cipher.decrypt(row.recommendation_enc) == "Switch to an SNRI; recheck PHQ-9 in 4 weeks"
    )
    [minutes] = harness.rows(ConsultMinutes)
    assert (minutes.case_id, minutes.minutes, minutes.user_id, minutes.consult_id) == (
        case_id,
        25,
        DAN,
        row.id,
    )
    [ask] = [d for d in harness.dms(ALICE) if d["text"].startswith("Consultant's recommendation")]
    assert ask["text"] == f"Consultant's recommendation on C-{case_id}"
    assert "Switch to an SNRI" in reply_text(ask)
    assert [b["action_id"] for b in buttons(ask)] == [
        Action.CONSULT_ACCEPT,
        Action.CONSULT_MODIFY,
        Action.CONSULT_DECLINE,
    ]

    assert "Consultant's recommendation waiting for your answer" in home(harness, ALICE)
    assert "Consultation waiting" not in home(harness, DAN)

    # The prescriber's stage gets its own one reminder.
    harness.clock.advance(timedelta(days=3))
    sweep(harness)
    harness.clock.advance(timedelta(days=3))
    sweep(harness)
    reminded = [d for d in harness.dms(ALICE) if d["text"].startswith("Reminder: consultation")]
    assert [r["text"] for r in reminded] == [
        f"Reminder: consultation on C-{case_id} is waiting for the prescriber's answer"
    ]
    assert len([e for e in harness.audit_events(action="consult.reminded")]) == 2

    # Only the treating prescriber answers; Modify needs a note.
    harness.action(BOB, Action.CONSULT_ACCEPT, str(row.id))
    assert "Only a prescriber" in reply_text(harness.ephemerals(BOB)[-1])
    harness.action(ALICE, Action.CONSULT_MODIFY, str(row.id), channel=ALICE)
    assert harness.last_view()["private_metadata"] == f"{row.id}:modify"
    body = json.loads(submit_response(harness, ALICE, row.id, "modify", "  "))
    assert list(body["errors"]) == [BlockId.CONSULT_RESPONSE_NOTE]
    assert the_consult(harness).status == "recommended"
    assert submit_response(harness, ALICE, row.id, "modify", "Switch, but taper over 2 weeks") == ""
    row = the_consult(harness)
    assert (row.status, row.responded_by) == ("modified", ALICE)
    assert harness.deps.cipher.decrypt(row.response_note_enc) == "Switch, but taper over 2 weeks"
    told = harness.dms(DAN)[-1]
    assert told["text"] == f"Consultation on C-{case_id}: recommendation accepted with changes"
    assert "taper over 2 weeks" in reply_text(told)
    thread = harness.posts(starting=f"Consultation on C-{case_id}: recommendation", channel="C0CARE")[-1]
    assert thread["thread_ts"] == harness.root_ts(case_id)
    # The request and the recommendation in the thread were edited in place: no buttons left.
    with harness.db() as session:
        posted = [
            session.get(OutboxMessage, i) for i in (row.request_outbox_id, row.recommendation_outbox_id)
        ]
    edits = {e["ts"]: e for e in harness.updates() if e["ts"] in {p.result_ts for p in posted}}
    assert len(edits) == 2 and not [b for e in edits.values() for b in buttons(e)]
    assert "Accepted with changes* by <@U0ALICE>" in reply_text(edits[posted[1].result_ts])

    harness.action(ALICE, Action.CONSULT_ACCEPT, str(row.id))  # settled: nothing changes
    assert "is settled" in reply_text(harness.ephemerals(ALICE)[-1])
    assert the_consult(harness).status == "modified"
    harness.clock.advance(timedelta(days=10))
    sweep(harness)
    assert len(harness.audit_events(action="consult.reminded")) == 2

    steps = [a for a, o in harness.audit_actions(case_id=case_id) if a.startswith("consult.") and o == "ok"]
    for step in ("consult.requested", "consult.recommended", "consult.minutes_logged", "consult.answered"):
        assert step in steps


def test_decline_needs_a_reason_and_accept_is_one_click(harness):
    case_id = not_improving(harness)
    consult(harness, CAROL, f"C-{case_id} request Is lithium augmentation worth it?")
    row = the_consult(harness)
    assert harness.deps.cipher.decrypt(row.reason_enc) == "Is lithium augmentation worth it?"
    submit_recommendation(harness, DAN, row.id, "Consider lithium augmentation")
    body = json.loads(submit_response(harness, ALICE, row.id, "decline", ""))
    assert list(body["errors"]) == [BlockId.CONSULT_RESPONSE_NOTE]
    harness.action(ALICE, Action.CONSULT_ACCEPT, str(row.id))
    assert the_consult(harness).status == "accepted"
    assert "You accepted the consultant's recommendation" in reply_text(harness.ephemerals(ALICE)[-1])
    assert harness.dms(DAN)[-1]["text"] == f"Consultation on C-{case_id}: recommendation accepted"
    # A new consultation may be asked once the last is settled.
    consult(harness, CAROL, f"C-{case_id} request")
    assert [r.status for r in harness.rows(Consult)] == ["accepted", "requested"]


def test_the_digest_offers_request_consultation_on_not_improving_cases(harness):
    case_id = not_improving(harness)
    other = care_team(harness, {BOB: "therapist", ALICE: "prescriber"}, label="Grey Owl")
    harness.command(ALICE, "digest", command=Command.REVIEW)
    digest = harness.last_reply()
    offered = [(b["action_id"], b["value"]) for b in buttons(digest)]
    assert offered == [(Action.CONSULT_REQUEST, str(case_id))]
    assert str(other) not in [v for _, v in offered]


# -- who is asked --------------------------------------------------------------------------------


def test_configured_consultants_are_asked_when_the_team_has_none(make_harness):
    h = make_harness(CARETHREAD_CONSULTANTS=EVE)
    try:
        case_id = not_improving(h, {ALICE: "prescriber", BOB: "therapist"})
        assert "Consultation requested" in consult(h, BOB, f"C-{case_id} request")
        [request] = h.dms(EVE)  # not on the team, yet the relay lets the consult's DM through
        assert request["text"] == f"Consultation requested on C-{case_id}"
        assert "configured consultant" in reply_text(request)
        row = the_consult(h)
        assert row.asked == [EVE]
        h.action(EVE, Action.CONSULT_RECOMMEND, str(row.id), channel=EVE)
        assert h.last_view()["callback_id"] == Callback.CONSULT_RECOMMEND
        assert submit_recommendation(h, EVE, row.id, "Add CBT-I") == ""
        assert the_consult(h).status == "recommended"
        assert "Logged 20 minutes" in consult(h, EVE, f"C-{case_id} minutes 20")
        # Asked about this case only: another case stays closed to them.
        other = care_team(h, {ALICE: "prescriber"}, label="Grey Owl")
        assert "don't have access" in consult(h, EVE, f"C-{other} minutes 20")
    finally:
        h.close()


def test_no_consultant_anywhere_is_a_clear_reply(harness):
    case_id = care_team(harness)
    reply = consult(harness, BOB, f"C-{case_id} request")
    assert "no psychiatric consultant" in reply and f"/case add C-{case_id} @consultant consultant" in reply
    assert harness.rows(Consult) == []
    assert "don't have access" in consult(harness, MALLORY, f"C-{case_id} request")
    assert ("command:/consult", "denied") in harness.audit_actions(actor=MALLORY)


# -- minutes -----------------------------------------------------------------------------------


def test_minutes_are_logged_per_case_and_totalled_per_month(harness):
    case_id = care_team(harness, CONSULT_TEAM)
    other = care_team(harness, CONSULT_TEAM, label="Grey Owl")
    today = harness.clock.now().date()
    assert "Logged 30 minutes" in consult(harness, DAN, f"C-{case_id} minutes 30 on {today:%Y-%m}-01")
    assert "Logged 15 minutes" in consult(harness, DAN, f"C-{case_id} minutes 15")
    assert "Logged 40 minutes" in consult(harness, DAN, f"C-{other} minutes 40")
    assert "in the future" in consult(harness, DAN, f"C-{case_id} minutes 10 on {today + timedelta(days=2)}")
    assert "from 1 to 600" in consult(harness, DAN, f"C-{case_id} minutes 0")
    assert "not a date" in consult(harness, DAN, f"C-{case_id} minutes 10 on 2026-02-30")
    assert "Only the psychiatric consultant" in consult(harness, BOB, f"C-{case_id} minutes 10")
    assert [(m.case_id, m.minutes, m.on_date) for m in harness.rows(ConsultMinutes)] == [
        (case_id, 30, today.replace(day=1)),
        (case_id, 15, today),
        (other, 40, today),
    ]

    report = consult(harness, DAN, f"minutes {today:%Y-%m}")
    assert f"*C-{case_id}*: 45 min (2 entries)" in report and f"*C-{other}*: 40 min (1 entry)" in report
    assert "*Total*: 85 min over 2 cases" in report
    assert "No consultant minutes" in consult(harness, ADMIN, "minutes 2025-01")
    assert "No consultant minutes" in consult(
        harness, MALLORY, f"minutes {today:%Y-%m}"
    )  # not on those teams
    assert "not a month" in consult(harness, DAN, "minutes 2026-13")
    assert "outside the years" in consult(harness, DAN, "minutes 9999-12")
    assert "outside the years" in consult(harness, DAN, "minutes 1999-12")
    event = harness.audit_events(action="consult.minutes_report")[0]
    assert json.loads(event.details)["minutes"] == 85


# -- parsing -----------------------------------------------------------------------------------


def test_consult_command_parsing():
    p = parsing.parse_consult_command
    assert isinstance(p(""), Help) and isinstance(p("help"), Help)
    assert p("C-3 request") == parsing.RequestConsult(3, None)
    assert p("C-3 request PHQ-9 stuck at 16") == parsing.RequestConsult(3, "PHQ-9 stuck at 16")
    assert p("c-3 minutes 20") == parsing.LogMinutes(3, 20, None)
    assert p("C-3 minutes 20 on 2026-11-02") == parsing.LogMinutes(3, 20, date(2026, 11, 2))
    assert p("minutes 2026-11") == parsing.MinutesReport(2026, 11)
    for bad, says in (
        ("C-3", "request"),
        ("C-3 minutes", "how many minutes"),
        ("C-3 minutes 20 at 2026-11-02", "on YYYY-MM-DD"),
        ("minutes", "which month"),
        ("minutes 11/2026", "not a month"),
        ("nonsense", "not a /consult command"),
    ):
        with pytest.raises(BadInput) as err:
            p(bad)
        assert says in err.value.message


WORDS = ["C-3", "request", "minutes", "on", "2026-11-02", "2026-11", "20", "0", "601", "x", "<@U1>", "help"]


@given(st.text(max_size=120) | st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join))
def test_consult_parser_answers_any_text_with_a_command_or_a_bad_input(text):
    try:
        command = parsing.parse_consult_command(text)
    except BadInput as err:
        assert err.message
        return
    if isinstance(command, parsing.LogMinutes):
        assert 1 <= command.minutes <= parsing.MAX_MINUTES
    if isinstance(command, parsing.MinutesReport):
        assert 1 <= command.month <= 12


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2999, 12, 31)))
def test_any_calendar_date_round_trips(day):
    assert parsing.parse_day(day.isoformat(), usage="u") == day


def test_a_team_consultant_who_left_the_team_no_longer_acts_or_reads(harness):
    case_id = not_improving(harness)
    consult(harness, BOB, f"C-{case_id} request")
    row = the_consult(harness)
    assert (row.asked, row.configured) == ([DAN], False)
    harness.command(ALICE, f"remove C-{case_id} <@{DAN}>")
    assert DAN not in harness.members(case_id)
    harness.action(DAN, Action.CONSULT_RECOMMEND, str(row.id))
    assert "don't have access" in reply_text(harness.ephemerals(DAN)[-1])
    assert submit_recommendation(harness, DAN, row.id, "Too late") == ""
    assert "don't have access" in reply_text(harness.dms(DAN)[-1])
    assert the_consult(harness).status == "requested"
    assert "don't have access" in consult(harness, DAN, f"C-{case_id} minutes 10")


# -- the registry: /registry minutes, and Request consultation on its lines ---------------------


def registry(h, user: str, text: str = "") -> dict:
    h.command(user, text, command=Command.REGISTRY)
    return h.last_reply()


def test_registry_minutes_totals_the_consultants_minutes_per_case(harness):
    case_id = care_team(harness, CONSULT_TEAM)
    other = care_team(harness, CONSULT_TEAM, label="Grey Owl")
    today = harness.clock.now().date()
    consult(harness, DAN, f"C-{case_id} minutes 30")
    consult(harness, DAN, f"C-{other} minutes 20")
    report = reply_text(registry(harness, DAN, f"minutes {today:%Y-%m}"))
    assert f"*C-{case_id}*: 30 min (1 entry)" in report and "*Total*: 50 min over 2 cases" in report
    assert f"*C-{case_id}*" not in reply_text(registry(harness, MALLORY, f"minutes {today:%Y-%m}"))
    events = harness.audit_events(action="consult.minutes_report")
    assert [json.loads(e.details)["minutes"] for e in events] == [50, 0]

    before = len(harness.audit_events())
    assert "not a month" in reply_text(registry(harness, DAN, "minutes 2026-13"))
    assert "which one month" in reply_text(registry(harness, DAN, "minutes"))
    assert "Usage: `/registry minutes" in reply_text(registry(harness, DAN, "minutes 2026-11 extra"))
    assert not [e for e in harness.audit_events()[before:] if e.action == "consult.minutes_report"]
    assert "`/registry minutes &lt;YYYY-MM&gt;`" in reply_text(registry(harness, DAN, "help"))


def test_registry_and_app_home_offer_request_consultation_on_not_improving_cases(harness):
    case_id = not_improving(harness)
    other = care_team(harness, {BOB: "therapist", ALICE: "prescriber"}, label="Grey Owl")
    offered = [(b["action_id"], b["value"]) for b in buttons(registry(harness, ALICE))]
    assert offered == [(Action.CONSULT_REQUEST, str(case_id))]

    before = len(harness.slack.calls_to("views.publish"))
    harness.event({"type": "app_home_opened", "user": ALICE, "tab": "home", "channel": f"D{ALICE}"})
    view = harness.slack.wait_for("views.publish", before + 1)[-1].args["view"]
    assert [(b["action_id"], b["value"]) for b in buttons(view)] == [(Action.CONSULT_REQUEST, str(case_id))]
    [line] = [b for b in view["blocks"] if (b.get("accessory") or {}).get("type") == "button"]
    assert f"*C-{case_id}*" in line["text"]["text"] and f"C-{other}" not in line["text"]["text"]

    harness.action(ALICE, Action.CONSULT_REQUEST, str(case_id))  # clicked on Home: no channel
    assert the_consult(harness).case_id == case_id
    assert buttons(registry(harness, ALICE)) == []  # one open consultation: no second request
