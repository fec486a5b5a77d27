"""Every measures template renders valid Block Kit with sample data, cites its scale, keeps the
notification text to case ids, and stays within Slack's block limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from bot.ids import Action
from bot.measures.registry import Registry, RegistryLine
from bot.measures.scales import GAD7, PHQ9, Course
from bot.measures.service import AlertRecipients, EpisodeSummary, Recorded
from bot.render import Renderer
from storage.measures import AlertStatus, Item9Alert
from tests.support import reply_text

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
START = NOW - timedelta(weeks=9)
renderer = Renderer()


def course(values, scale=PHQ9) -> Course:
    dates = tuple(date(2026, 9, 21) + timedelta(weeks=i) for i in range(len(values)))
    return Course(scale=scale, values=tuple(values), dates=dates, started_at=START, now=NOW)


SUMMARY = EpisodeSummary(
    case_id=7,
    case_ref="C-7",
    episode=2,
    started_at=START,
    reopened=True,
    weeks=9,
    courses={"phq9": course([18, 15]), "gad7": course([12, 5], GAD7)},
)
ALERT = Item9Alert(
    id=3,
    case_id=7,
    score_id=1,
    item9=2,
    taken_on=date(2026, 11, 23),
    entered_by="U0BOB",
    created_at=NOW,
    ack_due_at=NOW + timedelta(minutes=15),
    escalate_at=NOW + timedelta(minutes=22),
)
ACKED = ALERT.model_copy(
    update={"status": AlertStatus.ACKNOWLEDGED, "acknowledged_by": "U0ALICE", "acknowledged_at": NOW}
)


def line(n: int) -> RegistryLine:
    return RegistryLine(
        summary=SUMMARY,
        url="https://slack.com/archives/C0CARE/p1",
        last_contact=NOW,
        urgent=n % 2,
        no_recent_score=n % 3 == 0,
        no_recent_contact=n % 5 == 0,
        new=n % 7 == 0,
        status="last PHQ-9 3 weeks ago",
    )


CASES = {
    "measures/score_posted": dict(
        ref="C-7",
        user="U0BOB",
        scale=PHQ9,
        value=15,
        band="moderately severe",
        taken_on="2026-11-23",
        item9=1,
        replaced=True,
        summary=course([18, 15]).summary(),
        alert=AlertRecipients(["U0ALICE"], True, ["U0DAN"]),
    ),
    "measures/score_recorded": dict(
        r=Recorded(
            "C-7", course([18, 15]), 15, date(2026, 11, 23), 1, 16, ALERT, AlertRecipients(["U0CAROL"], False)
        )
    ),
    "measures/score_list": dict(s=SUMMARY, courses=list(SUMMARY.courses.values())),
    "measures/score_section": dict(s=SUMMARY, courses=list(SUMMARY.courses.values())),
    "measures/score_help": dict(usage=["`/score help`"], deadline="15 minutes"),
    "measures/item9_prompt": dict(
        ref="C-7",
        case_id=7,
        item9=2,
        taken_on="2026-11-23",
        alerted=["U0ALICE"],
        on_call=["U0DAN"],
        to_prescribers=True,
        safety=True,
        action=Action,
        crisis_text="Call 988 <!channel>",
    ),
    "measures/item9_escalation": dict(ref="C-7", a=ALERT, people=["U0ALICE", "U0CAROL"]),
    "measures/registry": dict(r=Registry([line(n) for n in range(60)], everything=True), home=False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_measures_templates_render_valid_block_kit(name):
    message = renderer.message(name, **CASES[name])
    assert "C-7" in message["text"] or message["text"].startswith(("Scores", "Caseload registry"))
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    assert len(message["blocks"]) <= 50
    assert "PHQ-9" not in message["text"] and "moderate" not in message["text"]  # ids only


@pytest.mark.parametrize("kind", ["alert", "fallback", "reminder", "escalation", "on_call", "acknowledged"])
def test_item9_alert_in_every_state(kind):
    for alert in (ALERT, ACKED) if kind != "acknowledged" else (ACKED,):
        message = renderer.message(
            "measures/item9_alert",
            a=alert,
            ref="C-7",
            kind=kind,
            prescribers=["U0ALICE"],
            action=Action,
            deadline="15 minutes",
            add_prescriber="`/case add C-7 @someone prescriber`",
        )
        for block in message["blocks"]:
            assert Block.parse(block).to_dict() == block
        has_button = any(b["type"] == "actions" for b in message["blocks"])
        assert has_button == (alert.status == "open" and kind in ("alert", "reminder", "on_call"))
        assert (
            "C-7" in message["text"] and "self-harm" not in message["text"] and "PHQ" not in message["text"]
        )


def test_the_crisis_text_and_the_registry_cite_and_escape():
    prompt = renderer.message("measures/item9_prompt", **CASES["measures/item9_prompt"])
    assert "&lt;!channel&gt;" in reply_text(prompt)
    assert "also the person on call: <@U0DAN>" in reply_text(prompt)
    assert [e["action_id"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        Action.SAFETY_START
    ]
    listed = reply_text(renderer.message("measures/registry", **CASES["measures/registry"]))
    assert "Showing the first 40 of 60." in listed
    assert "PHQ-9 15/27 moderately severe (17 % lower than baseline 18 (better))" in listed
    assert "GAD-7 5/21 mild (58 % lower than baseline 12 (better))" in listed
    assert "Bands: PHQ-9 0\u20134 minimal" in listed
    section = reply_text(renderer.message("measures/score_section", **CASES["measures/score_section"]))
    assert ":warning: *not improving* (8+ weeks, PHQ-9 ≥ 10 and under a 50 % drop)" in section


def test_a_long_crisis_text_is_clipped_not_refused():
    """CARETHREAD_CRISIS_TEXT is the clinic's to write: a long one must not fail the render and
    so roll back the score that triggered the prompt."""
    long = dict(CASES["measures/item9_prompt"], crisis_text="Call the crisis line. " * 400)
    prompt = renderer.message("measures/item9_prompt", **long)
    for block in prompt["blocks"]:
        assert Block.parse(block).to_dict() == block
    assert "Call the crisis line." in reply_text(prompt)
