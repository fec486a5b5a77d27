"""Measurement-based care end to end, through the real Bolt app and the stand-in Slack:
`/score` (dated, one per instrument per day, bands, errors all at once, refusals), episodes
(reopening resets the baseline), PHQ-9 item 9 (urgent DMs, Acknowledge, the safety prompt,
escalation on the urgent clock), the review form's scores, and the migration of old scores."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from bot.ids import Action, Callback, Command
from bot.measures import sweeps as measures_sweeps
from bot.scheduler import run_sweep
from storage import migrate
from storage.cases import Case
from storage.measures import AlertStatus, Episode, Item9Alert, Score
from tests.audit_helpers import reply
from tests.reviews_helpers import latest_review, review, submit_decision, submit_update
from tests.support import ADMIN, ALICE, BOB, CAROL, CHANNEL, MALLORY, care_team, reply_text

TODAY = date(2026, 11, 23)  # the FrozenClock's Monday 15:00 UTC is 10:00 in the stand-in's New York


def score(h, user: str, text: str) -> str:
    h.command(user, text, command=Command.SCORE)
    return h.last_reply_text()


def sweep(h) -> dict[str, object]:
    result = run_sweep(h.deps)
    h.settle()
    return result


def scores(h, case_id: int) -> list[tuple[str, int, date]]:
    return [(s.instrument, s.value, s.taken_on) for s in h.rows(Score, case_id=case_id)]


def actions_of(message: dict) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("value", ""))
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# -- /score ----------------------------------------------------------------------------------------


def test_score_is_saved_dated_banded_posted_and_audited(harness):
    h = harness
    case_id = care_team(h)
    reply = score(h, BOB, f"C-{case_id} phq9 14")
    assert f"Saved *PHQ-9 14*/27 (moderate) on *C-{case_id}*, taken 2026-11-23." in reply
    assert "This episode of care: PHQ-9 14/27 moderate · baseline" in reply
    [saved] = h.rows(Score, case_id=case_id)
    [episode] = h.rows(Episode, case_id=case_id)
    assert (saved.value, saved.taken_on, saved.source, saved.entered_by) == (14, TODAY, "command", BOB)
    assert saved.episode_id == episode.id and (episode.number, episode.reason) == (1, "created")
    [post] = h.posts(CHANNEL, starting="Score recorded")
    assert post["text"] == f"Score recorded on C-{case_id}"  # the notification names no score
    assert post["thread_ts"] == h.root_ts(case_id)
    assert "recorded *PHQ-9 14*/27 (moderate), taken 2026-11-23" in reply_text(post)
    event = h.audit_events(action="score.recorded")[-1]
    assert (event.actor, event.case_id, json.loads(event.details)["instrument"]) == (BOB, case_id, "phq9")

    # Another instrument and an earlier date in the same episode; the course is by date taken.
    assert "GAD-7 9*/21 (mild)" in score(h, CAROL, f"C-{case_id} gad7 9")
    assert "AUDIT-C 3*/12 (positive for women (threshold 3), negative for men (threshold 4))" in score(
        h, CAROL, f"C-{case_id} auditc 3"
    )
    h.clock.advance(timedelta(weeks=3))
    reply = score(h, BOB, f"C-{case_id} phq9 7 on 2026-12-01")
    assert "PHQ-9 7/27 mild · 14 → 7 · 50 % lower than baseline 14 (better)" in reply
    assert "response (a drop of 50 % or more)" in reply
    reply = score(h, BOB, f"C-{case_id} phq9 18")  # today, 2026-12-14: worse is worse
    assert "14 → 7 → 18 · 29 % higher than baseline 14 (worse)" in reply
    listed = score(h, ALICE, f"C-{case_id}")
    assert "episode 1" in listed and "3 weeks in treatment" in listed
    assert "By date taken: 2026-11-23: 14 · 2026-12-01: 7 · 2026-12-14: 18" in listed
    assert h.audit_events(action="score.viewed")[-1].actor == ALICE
    h.command(ALICE, f"C-{case_id}", command="/audit")
    timeline = h.last_reply_text()
    assert f"<@{BOB}> recorded a PHQ-9 score taken 2026-11-23 on C-{case_id}" in timeline


def test_a_second_score_for_the_same_day_replaces_the_first_and_is_audited(harness):
    h = harness
    case_id = care_team(h)
    score(h, BOB, f"C-{case_id} phq9 14")
    reply = score(h, CAROL, f"C-{case_id} phq9 12")
    assert "It replaces the PHQ-9 of 14 entered for the same day" in reply
    assert "PHQ-9 12/27 moderate · baseline" in reply  # one point, not a trend "14 → 12"
    [saved] = h.rows(Score, case_id=case_id)
    assert (saved.value, saved.entered_by, saved.replaced) == (12, CAROL, 1)
    event = h.audit_events(action="score.replaced")[-1]
    assert event.actor == CAROL and json.loads(event.details)["replaced_entry_by"] == BOB


def test_bad_scores_are_refused_with_every_problem_and_change_nothing(harness):
    h = harness
    case_id = care_team(h)
    reply = score(h, BOB, f"C-{case_id} gad7 30 item9 5 on 2026-13-01")
    assert "GAD-7 total must be a whole number from 0 to 21" in reply
    assert "Item 9 belongs to the PHQ-9 only." in reply and "The date must be YYYY-MM-DD" in reply
    assert "/score &lt;case&gt; gad7" in json.dumps(h.last_reply()) or "gad7 <0-21>" in reply
    reply = score(h, BOB, f"C-{case_id} phq9 10 on 2026-11-30")
    assert "2026-11-30 is in the future (today is 2026-11-23 where you are)." in reply
    reply = score(h, BOB, f"C-{case_id} phq9 10 on 2026-11-01")
    assert f"before this episode of care began (C-{case_id} was created on 2026-11-23)" in reply
    reply = score(h, BOB, f"C-{case_id} phq9 2 item9 3")
    assert "Item 9 (3) cannot be more than the PHQ-9 total (2)" in reply
    assert scores(h, case_id) == []
    with h.db() as session:
        assert session.execute(select(Item9Alert)).scalars().all() == []
    assert [o for _, o in h.audit_actions(action="command:/score")] == ["bad_input"] * 4
    assert h.posts(CHANNEL, starting="Score recorded") == []


def test_only_the_team_records_or_reads_scores(harness):
    h = harness
    case_id = care_team(h)
    refused = score(h, MALLORY, f"C-{case_id} phq9 10")
    # The same words whether or not the case exists.
    assert refused.replace(f"C-{case_id}", "C-999") == score(h, MALLORY, "C-999 phq9 10")
    assert "C-" in refused and scores(h, case_id) == []
    assert ("command:/score", "denied") in h.audit_actions(actor=MALLORY)
    assert "Only members of" in score(h, ADMIN, f"C-{case_id} phq9 10")  # admins read, teams record
    assert "No score yet" in score(h, ADMIN, f"C-{case_id}")
    h.command(ALICE, f"close C-{case_id} discharged")
    assert "is closed" in score(h, BOB, f"C-{case_id} phq9 10")


def test_reopening_starts_a_new_episode_with_its_own_baseline(harness):
    h = harness
    case_id = care_team(h)
    score(h, BOB, f"C-{case_id} phq9 20")
    h.clock.advance(timedelta(weeks=10))
    score(h, BOB, f"C-{case_id} phq9 16")
    assert "10 weeks in treatment" in score(h, BOB, f"C-{case_id}")
    h.command(ALICE, f"close C-{case_id} better")
    h.clock.advance(timedelta(weeks=6))
    h.command(ALICE, f"reopen C-{case_id}")
    assert [(e.number, e.reason) for e in h.rows(Episode, case_id=case_id)] == [
        (1, "created"),
        (2, "reopened"),
    ]
    shown = score(h, BOB, f"C-{case_id}")
    assert "episode 2 (reopened" in shown and "0 weeks in treatment" in shown and "No score yet" in shown
    reply = score(h, BOB, f"C-{case_id} phq9 15")
    assert "PHQ-9 15/27 moderately severe · baseline" in reply  # not "20 → 16 → 15"
    reply = score(h, BOB, f"C-{case_id} phq9 12 on 2026-12-20")
    assert "before this episode of care began" in reply and "was reopened on" in reply


# -- PHQ-9 item 9 -------------------------------------------------------------------------------


def test_item9_alerts_every_prescriber_and_asks_for_a_safety_assessment(harness):
    h = harness
    team = {ALICE: "prescriber", BOB: "therapist", CAROL: "case-manager", "U0PAT": "prescriber"}
    case_id = care_team(h, team)
    reply = score(h, BOB, f"C-{case_id} phq9 12 item9 2")
    assert "item 9: 2/3" in reply and "Alerted now: <@U0ALICE>, <@U0PAT> (the team's prescribers)" in reply
    [alert] = h.rows(Item9Alert, case_id=case_id)
    assert alert.status == AlertStatus.OPEN and alert.item9 == 2
    assert alert.ack_due_at == h.clock.now() + timedelta(minutes=15)  # the urgent side-effect clock
    for prescriber in (ALICE, "U0PAT"):
        [dm] = h.dms(prescriber)
        assert dm["text"] == f"Urgent alert on C-{case_id}: please acknowledge"
        assert "item 9 (thoughts of self-harm) of *2*/3" in reply_text(dm)
        assert actions_of(dm) == [(Action.SCORE_ITEM9_ACK, str(alert.id))]
    assert h.dms(CAROL) == []
    [prompt] = h.dms(BOB)
    assert prompt["text"] == f"Action needed on C-{case_id}"
    # The safety workflow is installed: the prompt carries its button, which opens the form.
    assert actions_of(prompt) == [(Action.SAFETY_START, str(case_id))]
    h.action(BOB, Action.SAFETY_START, str(case_id), channel="D0BOB")
    assert h.last_view()["callback_id"] == Callback.SAFETY_FORM
    assert "988" in reply_text(prompt)  # the clinic's crisis text
    score(h, BOB, f"C-{case_id} phq9 13 item9 2")  # the same day's PHQ-9 corrected: no second page
    assert len(h.rows(Item9Alert, case_id=case_id)) == 1 and len(h.dms(ALICE)) == 1
    assert "Item 9 of 1 or more. Alerted now: <@U0ALICE>, <@U0PAT> (the team's prescribers)." in reply_text(
        h.posts(CHANNEL, starting="Score recorded")[0]
    )

    # Only a prescriber acknowledges; once.
    h.action(BOB, Action.SCORE_ITEM9_ACK, str(alert.id), channel=BOB)
    assert h.get(Item9Alert, alert.id).status == AlertStatus.OPEN
    h.action(ALICE, Action.SCORE_ITEM9_ACK, str(alert.id), channel=ALICE)
    acked = h.get(Item9Alert, alert.id)
    assert (acked.status, acked.acknowledged_by, acked.next_escalation_at) == ("acknowledged", ALICE, None)
    updated = h.updates()
    assert len(updated) >= 2 and all(actions_of(u) == [] for u in updated[-2:])  # no stale buttons
    assert h.dms(BOB)[-1]["text"] == f"Urgent alert acknowledged on C-{case_id}"
    h.action("U0PAT", Action.SCORE_ITEM9_ACK, str(alert.id), channel="U0PAT")
    assert ("button:score_item9_ack", "conflict") in h.audit_actions(actor="U0PAT")
    assert ("button:score_item9_ack", "denied") in h.audit_actions(actor=BOB)
    assert [e.action for e in h.audit_events(action="score.item9_acknowledged")] == [
        "score.item9_acknowledged"
    ]
    assert sweep(h)["item9_alerts"] == 0  # acknowledged: nothing to chase


def test_item9_without_the_safety_workflow_says_to_use_the_clinics_usual_way(harness):
    h = harness
    h.deps.workflows = tuple(w for w in h.deps.workflows if w.name != "safety")
    case_id = care_team(h)
    score(h, CAROL, f"C-{case_id} phq9 9 item9 1")
    [prompt] = h.dms(CAROL)
    assert actions_of(prompt) == []
    assert "record a safety assessment in your clinic's usual way" in reply_text(prompt)


def test_unacknowledged_item9_is_reminded_then_escalated_once(harness):
    h = harness
    case_id = care_team(h)
    score(h, BOB, f"C-{case_id} phq9 22 item9 3")
    assert sweep(h)["item9_alerts"] == 0
    h.clock.advance(timedelta(minutes=15))
    assert sweep(h)["item9_alerts"] == 1
    assert h.dms(ALICE)[-1]["text"] == f"Reminder: urgent alert on C-{case_id}"
    assert actions_of(h.dms(ALICE)[-1]) == [(Action.SCORE_ITEM9_ACK, str(h.rows(Item9Alert)[0].id))]
    h.clock.advance(timedelta(minutes=8))  # half the urgent deadline again
    assert sweep(h)["item9_alerts"] == 1
    assert h.dms(CAROL)[-1]["text"] == f"Escalated: urgent alert on C-{case_id}"
    [thread] = h.posts(CHANNEL, starting="Escalated: urgent alert")
    assert thread["thread_ts"] == h.root_ts(case_id) and f"<@{ALICE}>" in reply_text(thread)
    assert sweep(h)["item9_alerts"] == 0
    assert [e.action for e in h.audit_events(case_id=case_id) if e.action.startswith("score.item9_")][
        -2:
    ] == [
        "score.item9_notified",
        "score.item9_escalated",
    ]


def test_closing_with_an_open_item9_alert_asks_for_confirmation(harness):
    h = harness
    case_id = care_team(h)
    score(h, BOB, f"C-{case_id} phq9 12 item9 1")
    [alert] = h.rows(Item9Alert, case_id=case_id)
    h.command(ALICE, f"close C-{case_id} moved away")
    held = h.last_reply()
    assert held["text"] == f"C-{case_id} was not closed: it has open items"
    assert f"PHQ-9 item 9 alert *{alert.ref}*: not acknowledged" in reply_text(held)
    assert [e["action_id"] for b in held["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        Action.CASE_CLOSE_CONFIRM
    ]
    assert h.get(Case, case_id).status == "open"
    h.action(ALICE, Action.SCORE_ITEM9_ACK, str(alert.id), channel=ALICE)
    h.command(ALICE, f"close C-{case_id} moved away")  # acknowledged: nothing left behind
    assert h.get(Case, case_id).status == "closed" and f"Closed C-{case_id}" in h.last_reply_text()


def test_one_sweep_chases_every_due_alert_batch_after_batch(harness, monkeypatch):
    """More due alerts than one batch: the sweep claims the next batch instead of stopping."""
    monkeypatch.setattr(measures_sweeps, "BATCH", 1)  # two alerts, one per batch
    h = harness
    cases = [care_team(h, label="One"), care_team(h, label="Two", channel="C0TWO")]
    for case_id in cases:
        score(h, BOB, f"C-{case_id} phq9 22 item9 3")
    h.clock.advance(timedelta(minutes=15))
    assert sweep(h)["item9_alerts"] == 2
    assert [m["text"] for m in h.dms(ALICE) if m["text"].startswith("Reminder: urgent alert")] == [
        f"Reminder: urgent alert on C-{case_id}" for case_id in cases
    ]


def test_a_closed_cases_item9_alert_is_not_chased(harness):
    h = harness
    case_id = care_team(h)
    score(h, BOB, f"C-{case_id} phq9 22 item9 3")
    h.command(ALICE, f"close C-{case_id} moved away")
    [close] = [e for b in h.last_reply()["blocks"] if b["type"] == "actions" for e in b["elements"]]
    h.action(ALICE, Action.CASE_CLOSE_CONFIRM, close["value"], response_url=f"{h.slack.url}respond/close")
    assert h.get(Case, case_id).status == "closed"
    dms_before = len(h.dms(ALICE))
    h.clock.advance(timedelta(minutes=30))
    assert sweep(h)["item9_alerts"] == 0
    assert len(h.dms(ALICE)) == dms_before
    [alert] = h.rows(Item9Alert, case_id=case_id)
    assert alert.next_escalation_at is None
    assert [e.action for e in h.audit_events(case_id=case_id) if e.action == "score.item9_chase_stopped"] == [
        "score.item9_chase_stopped"
    ]


# -- the review update form -------------------------------------------------------------------------


def test_review_updates_record_dated_scores_one_per_day(harness):
    h = harness
    case_id = care_team(h)
    review(h, ALICE, f"C-{case_id} now")
    review_id = latest_review(h).id
    submit_update(h, BOB, review_id, REVIEW_PROGRESS="steady", REVIEW_PHQ9="14", REVIEW_GAD7="8")
    submit_update(h, CAROL, review_id, REVIEW_SOCIAL_NEEDS="housing", REVIEW_PHQ9="12")
    submit_decision(h, ALICE, review_id, "continue", "keep going")
    assert sorted(scores(h, case_id)) == [("gad7", 8, TODAY), ("phq9", 12, TODAY)]
    phq9 = next(s for s in h.rows(Score, case_id=case_id) if s.instrument == "phq9")
    assert (phq9.source, phq9.entered_by, phq9.replaced) == ("review", CAROL, 1)
    assert h.posts(CHANNEL, starting="Score recorded") == []  # the update itself shows its scores
    h.command(ALICE, f"show C-{case_id}")
    shown = h.last_reply_text()
    assert "PHQ-9 12/27 moderate · baseline" in shown and "14 → 12" not in shown


def test_the_migration_turns_review_update_scores_into_dated_scores(harness):
    h = harness
    case_id = care_team(h)
    for phq9, weeks in (("18", 0), ("14", 4)):
        h.clock.advance(timedelta(weeks=weeks))
        review(h, ALICE, f"C-{case_id} now")
        review_id = latest_review(h).id
        submit_update(h, BOB, review_id, REVIEW_PHQ9=phq9)
        submit_update(h, CAROL, review_id, REVIEW_PHQ9=str(int(phq9) - 1))  # same day: one point
        submit_decision(h, ALICE, review_id, "continue", "ok")
    h.clock.advance(timedelta(days=1))
    h.command(ALICE, f"close C-{case_id}")
    h.command(ALICE, f"reopen C-{case_id}")
    h.settle()
    config = migrate.alembic_config()
    with h.engine.begin() as connection:
        config.attributes["connection"] = connection
        # Back to just before this migration (whatever precedes it in the chain), then up again.
        before = ScriptDirectory.from_config(config).get_revision("0014").down_revision
        command.downgrade(config, before)
    migrate.upgrade(h.engine)
    with h.db() as session:
        episodes = session.execute(select(Episode).where(Episode.case_id == case_id)).scalars().all()
        assert [(e.number, e.reason) for e in episodes] == [(1, "created"), (2, "reopened")]
        rows = session.execute(select(Score).order_by(Score.taken_on)).scalars().all()
        assert [(s.value, s.source, s.replaced, s.entered_by) for s in rows] == [
            (17, "migrated", 1, CAROL),
            (13, "migrated", 1, CAROL),
        ]
        assert {s.episode_id for s in rows} == {episodes[0].id}


# -- the registry ----------------------------------------------------------------------------------


def registry_order(text: str) -> list[str]:
    return re.findall(r"^\*(C-\d+)\*", text, flags=re.MULTILINE)


def registry_caseload(h) -> dict[str, int]:
    """Five cases of ALICE's, one per place in a systematic case review, built over 10 weeks."""
    start = h.clock.now()
    team = {ALICE: "prescriber", BOB: "therapist"}
    ids = {"quiet": care_team(h, team, label="Quiet"), "stuck": care_team(h, team, label="Stuck")}
    ids["steady"] = care_team(h, team, label="Steady")
    score(h, BOB, f"C-{ids['stuck']} phq9 18")
    score(h, BOB, f"C-{ids['steady']} phq9 16")
    h.clock.set(start + timedelta(weeks=9))
    score(h, BOB, f"C-{ids['stuck']} phq9 15")  # 17 % lower after 9 weeks: not improving
    h.clock.set(start + timedelta(weeks=10))
    score(h, BOB, f"C-{ids['steady']} phq9 6")
    ids["urgent"] = care_team(h, team, label="Urgent")
    score(h, BOB, f"C-{ids['urgent']} phq9 11 item9 1")
    ids["new"] = care_team(h, team, label="New")
    return ids


def test_registry_ranks_cases_like_a_systematic_case_review(harness):
    h = harness
    ids = registry_caseload(h)
    h.command(ALICE, "", command=Command.REGISTRY)
    text = h.last_reply_text()
    assert h.last_reply()["text"] == "Caseload registry: 5 open cases"  # counts only
    expected = ["urgent", "stuck", "quiet", "new", "steady"]
    assert registry_order(text) == [f"C-{ids[name]}" for name in expected]
    lines = {line.split("*")[1]: line for line in text.splitlines() if line.startswith("*C-")}
    blocks = {ref: text.split(f"*{ref}*", 1)[1].split("\n*C-")[0] for ref in lines}
    assert ":rotating_light: 1 urgent item open" in lines[f"C-{ids['urgent']}"]
    assert ":warning: not improving (PHQ-9)" in lines[f"C-{ids['stuck']}"]
    assert (
        "PHQ-9 15/27 moderately severe (17 % lower than baseline 18 (better))" in blocks[f"C-{ids['stuck']}"]
    )
    assert (
        "no score in 4 weeks" in lines[f"C-{ids['quiet']}"]
        and "no contact in 2 weeks" in lines[f"C-{ids['quiet']}"]
    )
    assert "no flags · new · no score yet" in lines[f"C-{ids['new']}"]
    assert "no flags · last PHQ-9 today" in lines[f"C-{ids['steady']}"]
    assert "PHQ-9 6/27 mild (63 % lower than baseline 16 (better))" in blocks[f"C-{ids['steady']}"]
    assert "10 weeks in treatment · last score 2027-02-01" in blocks[f"C-{ids['steady']}"]
    assert "on track" not in text
    event = h.audit_events(action="registry.viewed")[-1]
    assert event.actor == ALICE and sorted(json.loads(event.details)["cases"]) == sorted(ids.values())

    h.command(MALLORY, "", command=Command.REGISTRY)
    assert "0 open cases" in h.last_reply_text()
    h.command(ALICE, "all", command=Command.REGISTRY)
    assert "Only CareThread admins" in h.last_reply_text()
    assert ("command:/registry", "denied") in h.audit_actions(actor=ALICE)
    h.command(ADMIN, "all", command=Command.REGISTRY)
    assert registry_order(h.last_reply_text()) == registry_order(text)
    h.command(ALICE, "help", command=Command.REGISTRY)
    assert "`/registry all`" in h.last_reply_text()


def test_registry_and_digest_call_a_case_new_by_the_same_setting(make_harness):
    """The registry once used a fixed 14 days while the digest read CARETHREAD_NEW_CASE_DAYS,
    so with the setting at 3 a five-day-old case was new in one and not in the other."""
    h = make_harness(CARETHREAD_NEW_CASE_DAYS="3")
    team = {ALICE: "prescriber", BOB: "therapist"}
    older = care_team(h, team, label="Older")
    h.clock.advance(timedelta(days=5))
    fresh = care_team(h, team, label="Fresh")

    h.command(ALICE, "", command=Command.REGISTRY)
    lines = {line.split("*")[1]: line for line in h.last_reply_text().splitlines() if line.startswith("*C-")}
    assert " · new · " in lines[f"C-{fresh}"]
    assert " · new · " not in lines[f"C-{older}"]

    digest = review(h, ALICE, "digest")
    assert "*1* new" in digest
    assert f"*C-{fresh}* · new case" in digest and f"*C-{older}* · new case" not in digest


def test_app_home_shows_my_caseload(harness):
    h = harness
    ids = registry_caseload(h)
    h.event({"type": "app_home_opened", "user": ALICE, "tab": "home", "channel": "D0ALICE"})
    home = reply_text(h.last_view("views.publish"))
    assert "*My caseload* · 5 open cases · 1 with urgent items open · 1 not improving" in home
    order = re.findall(r"^\*(C-\d+)\* ·", home, flags=re.MULTILINE)
    assert order == [f"C-{ids[name]}" for name in ("urgent", "stuck", "quiet", "new", "steady")]
    assert h.audit_events(action="registry.home_viewed")[-1].actor == ALICE
    assert f"• *C-{ids['urgent']}* Urgent PHQ-9 item 9 alert waiting for acknowledgement" in home
    h.event({"type": "app_home_opened", "user": MALLORY, "tab": "home", "channel": "D0MALLORY"})
    assert "My caseload" not in reply_text(h.last_view("views.publish"))


def test_the_review_form_takes_item9_and_the_date_the_scores_were_taken(harness):
    h = harness
    case_id = care_team(h)
    review(h, ALICE, f"C-{case_id} now")
    review_id = latest_review(h).id
    status, body = submit_update(h, BOB, review_id, REVIEW_ITEM9="4", REVIEW_SCORES_TAKEN="2026-11-20")
    errors = json.loads(body)["errors"]
    assert status == 200 and set(errors) == {"review_item9", "review_scores_taken"}
    assert (
        "0 to 3" in errors["review_item9"] and "with the date it was taken" in errors["review_scores_taken"]
    )
    status, body = submit_update(h, BOB, review_id, REVIEW_ITEM9="1")
    assert "Give the PHQ-9 total with item 9." in json.loads(body)["errors"]["review_item9"]
    assert h.rows(Score, case_id=case_id) == []

    submit_update(h, BOB, review_id, REVIEW_PHQ9="16", REVIEW_ITEM9="1", REVIEW_SCORES_TAKEN="2026-11-23")
    [saved] = h.rows(Score, case_id=case_id)
    assert (saved.value, saved.item9, saved.taken_on, saved.source) == (16, 1, TODAY, "review")
    [alert] = h.rows(Item9Alert, case_id=case_id)
    assert h.dms(ALICE)[-1]["text"] == f"Urgent alert on C-{case_id}: please acknowledge"
    assert h.dms(BOB)[-1]["text"] == f"Action needed on C-{case_id}"
    update = next(p for p in h.posts(CHANNEL) if p["text"] == f"Review update on C-{case_id}")
    assert "PHQ-9 *16*/27 · PHQ-9 item 9: *1*/3 · taken 2026-11-23" in reply_text(update)
    assert alert.status == AlertStatus.OPEN

    # A date before the episode began is refused after the form closed: by DM, nothing saved.
    submit_update(h, CAROL, review_id, REVIEW_GAD7="5", REVIEW_SCORES_TAKEN="2026-10-01")
    assert "before this episode of care began" in reply_text(h.dms(CAROL)[-1])
    assert [s.instrument for s in h.rows(Score, case_id=case_id)] == ["phq9"]


def test_item9_without_a_prescriber_goes_to_the_case_managers_and_a_late_sweep_fires_both_steps(harness):
    h = harness
    case_id = care_team(h, {BOB: "therapist", CAROL: "case-manager"})
    score(h, BOB, f"C-{case_id} phq9 20 item9 1")
    [dm] = h.dms(CAROL)
    assert dm["text"] == f"Urgent alert on C-{case_id}: please acknowledge"
    assert "there is no prescriber on its care team" in reply_text(dm) and actions_of(dm) == []
    assert "There is no prescriber on the team; alerted instead: <@U0CAROL>" in reply_text(h.dms(BOB)[-1])
    # The thread and the recorder's reply say the same, never "every prescriber has been alerted".
    [posted] = h.posts(CHANNEL, starting="Score recorded")
    for said in (reply_text(posted), reply_text(h.last_reply())):
        assert "There is no prescriber on the team; alerted instead: <@U0CAROL>" in said
        assert "prescriber on the team has been alerted" not in said and "prescribers have been" not in said
    h.clock.advance(timedelta(hours=2))  # the app was down past both steps
    assert sweep(h)["item9_alerts"] == 2 and sweep(h)["item9_alerts"] == 0
    assert all(actions_of(m) == [] for m in h.dms(CAROL))  # nobody there can acknowledge
    steps = [
        e.action
        for e in h.audit_events(case_id=case_id)
        if e.action in ("score.item9_reminded", "score.item9_escalated")
    ]
    assert steps == ["score.item9_reminded", "score.item9_escalated"]


def case_line(h, case_id: int) -> str:
    h.command(ALICE, "", command=Command.REGISTRY)
    return next(line for line in h.last_reply_text().splitlines() if line.startswith(f"*C-{case_id}*"))


def test_last_contact_is_the_teams_newest_thread_message(harness):
    h = harness
    case_id = care_team(h, {ALICE: "prescriber", BOB: "therapist"})
    h.clock.advance(timedelta(weeks=3))
    assert "no contact in 2 weeks" in case_line(h, case_id)
    now_ts = f"{h.clock.now().timestamp() - 1:.6f}"
    h.event(reply(h.root_ts(case_id), MALLORY, "not on the team", ts=now_ts))  # not the team's contact
    assert "no contact in 2 weeks" in case_line(h, case_id)
    h.event(reply(h.root_ts(case_id), BOB, "Saw them today", ts=f"{h.clock.now().timestamp():.6f}"))
    line = case_line(h, case_id)
    assert "no contact in 2 weeks" not in line
    assert "no score in 4 weeks" not in line and "no score yet" in line  # 3 weeks into the episode
