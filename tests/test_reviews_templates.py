"""Every review template renders valid Block Kit with sample data, escapes what people typed,
and keeps clinical detail out of the notification text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.ids import Action, BlockId
from bot.render import Renderer
from bot.reviews.caseload import Digest, DigestLine
from bot.reviews.commands import REVIEW_USAGE
from bot.reviews.fields import fields_for
from bot.reviews.service import DecisionForm, FormField, ReviewLine, ScheduleInfo, TeamMember, UpdateForm
from handlers.reviews import decision_view, update_view
from tests.support import reply_text

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
HOSTILE = '<!channel> *bold* & "quotes" \\ <@U0EVIL>'
TEAM = [TeamMember("U0ALICE", "Prescriber", True), TeamMember("U0BOB", "Therapist", False)]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_prompt_open_and_complete(renderer):
    common = dict(
        action=Action, ref="C-7", review_id=3, trigger="schedule", started_by="app", due_at=NOW, members=TEAM
    )
    open_ = renderer.message(
        "reviews/review_prompt", status="open", decision=None, decided_by=None, decided_at=None, **common
    )
    assert open_["text"] == "Case review due on C-7"
    text = reply_text(open_)
    assert "<@U0ALICE>, <@U0BOB>" in text and "(1 of 2)" in text
    buttons = open_["blocks"][3]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("review_add_update", "3"),
        ("review_decide", "3"),
    ]
    done = renderer.message(
        "reviews/review_prompt",
        status="complete",
        decision="Step up care",
        decided_by="U0BOB",
        decided_at=NOW,
        **{**common, "trigger": "command", "started_by": "U0ALICE"},
    )
    assert done["text"] == "Case review on C-7 complete"
    assert "Decision: Step up care*, recorded by <@U0BOB>" in reply_text(done)
    assert all(b["type"] != "actions" for b in done["blocks"])


def test_update_and_decision_escape_what_people_typed(renderer):
    update = renderer.message(
        "reviews/review_update",
        ref="C-7",
        user="U0BOB",
        role_title="Therapist",
        revised=False,
        answers=[("Progress", HOSTILE), ("Concerns", "x" * 5000)],
        phq9=0,
        gad7=None,
        item9=0,
        taken_on="2026-11-20",
    )
    text = reply_text(update)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<@U0EVIL>" not in text
    assert "PHQ-9 *0*/27 · PHQ-9 item 9: *0*/3 · taken 2026-11-20" in text and "GAD-7" not in text
    assert update["text"] == "Review update on C-7"
    decided = renderer.message(
        "reviews/review_decided",
        ref="C-7",
        actor="U0ALICE",
        decision="Adjust treatment",
        note=HOSTILE,
        closes=True,
        plan=[("Warning signs", HOSTILE), ("Whom to call", "Dr <@U0EVIL>")],
        pcps=["U0PCP"],
    )
    assert "&lt;!channel&gt;" in reply_text(decided) and "being closed" in reply_text(decided)
    assert "<@U0EVIL>" not in reply_text(decided) and "sent by DM to <@U0PCP>" in reply_text(decided)
    assert decided["text"] == "Case review on C-7 complete"


def test_notes_nudge_help_and_schedule(renderer):
    note = renderer.message(
        "reviews/review_note",
        ref="C-7",
        kind="cadence_set",
        actor="U0ALICE",
        cadence="every week",
        tz="UTC",
        next_due_at=NOW,
    )
    assert f"<!date^{int(NOW.timestamp())}^" in reply_text(note)
    off = renderer.message("reviews/review_note", ref="C-7", kind="cadence_off", actor="U0ALICE")
    assert "turned off scheduled reviews of C-7" in reply_text(off)
    nudge = renderer.message(
        "reviews/review_nudge",
        action=Action,
        ref="C-7",
        review_id=3,
        started_at=NOW,
        url="https://slack.com/archives/C1/p1",
    )
    assert nudge["text"] == "Case review on C-7 is waiting for your update"
    assert "<https://slack.com/archives/C1/p1|Open the case thread>" in reply_text(nudge)
    help_ = renderer.message("reviews/review_help", usage=list(REVIEW_USAGE.values()))
    assert "/review &lt;case&gt; every" in reply_text(help_)
    info = ScheduleInfo(
        "C-7", True, "every 2 weeks on Monday at 10:00", "Europe/Berlin", NOW, NOW, 1, 3, None
    )
    for changed in (None, "set", "off"):
        shown = reply_text(renderer.message("reviews/review_schedule", s=info, changed=changed))
        assert "every 2 weeks on Monday at 10:00 (Europe/Berlin)" in shown and "1 of 3 updates in" in shown
    off_info = ScheduleInfo("C-7", False, None, None, None)
    assert "off." in reply_text(renderer.message("reviews/review_schedule", s=off_info, changed="off"))


def test_list_and_digest_stay_within_block_limits(renderer):
    lines = [
        ReviewLine(f"C-{n}", None, "every week", "UTC", NOW, NOW if n % 2 else None, bool(n % 3))
        for n in range(60)
    ]
    listed = renderer.message("reviews/review_list", lines=lines)
    assert len(listed["blocks"]) <= 50 and "Showing 45 of 60" in reply_text(listed)
    assert "You are not on any open case" in reply_text(renderer.message("reviews/review_list", lines=[]))
    digest = Digest(
        [
            DigestLine(
                n,
                f"C-{n}",
                "https://slack.com/archives/C1/p1",
                n % 3,
                n % 2 == 0,
                n % 5 == 0,
                n % 7 == 0,
                "18 → 12",
                "last PHQ-9 3 weeks ago",
                NOW,
                NOW,
            )
            for n in range(1, 61)
        ]
    )
    for scope in ("weekly", "all", "mine"):
        rendered = renderer.message("reviews/review_digest", digest=digest, scope=scope, now=NOW)
        assert len(rendered["blocks"]) <= 50
        assert "Showing the first 40 of 60" in reply_text(rendered)
        assert rendered["text"] == "Caseload digest: 60 open cases"
    assert "No open cases" in reply_text(
        renderer.message("reviews/review_digest", digest=Digest([]), scope="mine", now=NOW)
    )


@pytest.mark.parametrize("role", ["therapist", "prescriber", "case-manager", "pcp", None])
def test_update_modal_for_each_role(renderer, role):
    """The "reviews/review_update_form" template, through the helper the handler uses."""
    fields = fields_for(role)
    form = UpdateForm(
        review_id=9,
        case_ref="C-7",
        role_title="Therapist",
        fields=[FormField(f, "good" if f.block == BlockId.REVIEW_ADHERENCE else "") for f in fields],
        phq9=14,
        gad7=None,
        revising=True,
    )
    view = update_view(renderer, form)
    assert view["callback_id"] == "review_update" and view["private_metadata"] == "9"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [
        *(f.block for f in fields),
        "review_phq9",
        "review_item9",
        "review_gad7",
        "review_scores_taken",
    ]
    assert all(b["element"]["action_id"] == "value" and b["optional"] for b in inputs)
    by_block = {b["block_id"]: b["element"] for b in inputs}
    assert by_block["review_phq9"]["initial_value"] == "14" and "initial_value" not in by_block["review_gad7"]
    assert (
        "initial_value" not in by_block["review_item9"]
        and "initial_date" not in by_block["review_scores_taken"]
    )
    assert len(view["title"]["text"]) <= 24 and view["submit"]["text"] == "Post revision"
    if role == "prescriber":
        adherence = inputs[1]["element"]
        assert adherence["initial_option"]["value"] == "good" and len(adherence["options"]) == 4


def test_decision_modal(renderer):
    """The "review_decision" template, through the helper the handler uses."""
    view = decision_view(renderer, DecisionForm(9, "C-7", TEAM))
    text = reply_text(view)
    assert "Updates in: <@U0ALICE>" in text and "Still waiting for: <@U0BOB>" in text
    select = next(b for b in view["blocks"] if b.get("block_id") == BlockId.REVIEW_DECISION)
    assert [o["value"] for o in select["element"]["options"]] == [
        "continue",
        "adjust",
        "step-up",
        "discharge",
    ]
    assert len(view["title"]["text"]) <= 24


def test_case_show_section(renderer):
    info = ScheduleInfo("C-7", True, "every 2 weeks", "America/New_York", NOW, NOW, 2, 3, None)
    section = renderer.message("reviews/review_case_section", s=info)
    text = section["blocks"][0]["text"]["text"]
    assert "*Reviews* every 2 weeks (America/New_York) · next <!date^" in text
    assert "2 of 3 updates in" in text and "Scores" not in text  # the measures workflow's section
    off = renderer.message("reviews/review_case_section", s=ScheduleInfo("C-7", False, None, None, None))
    assert off["blocks"][0]["text"]["text"] == "*Reviews* off · `/review C-7 every 2 weeks` turns them on"
