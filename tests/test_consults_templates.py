"""Issue 14's templates rendered with sample and hostile values: valid Block Kit, ids only in the
notification text, and what people typed escaped (no mention or <!channel> injected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.consults.service import RESPONSE_TITLES, ConsultView, Context, MinutesLine, MinutesTotals
from bot.ids import Action, BlockId, Callback
from bot.render import Renderer
from handlers.consults import recommendation_view, response_view
from storage.consults import Consult
from tests.support import reply_text

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
HOSTILE = '<!channel> *bold* & "quotes" \\ <@U0EVIL>'


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def view_of(**changes: Any) -> ConsultView:
    fields: dict[str, Any] = dict(
        consult_id=4,
        case_ref="C-7",
        status="requested",
        requested_by="U0BOB",
        requested_at=NOW,
        reason=HOSTILE,
        context=Context(["PHQ-9 16/27 moderately severe · 18 → 16"], 10, ["PHQ-9"]),
        recommendation=HOSTILE,
        recommended_by="U0DAN",
    )
    fields.update(changes)
    return ConsultView(**fields)


def valid(message: dict[str, Any]) -> str:
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    text = reply_text(message)
    assert "<@U0EVIL>" not in text and "<!channel>" not in text
    return text


def test_request_recommended_answered_reminder(renderer):
    for dm in (True, False):
        request = renderer.message(
            "consults/consult_request", v=view_of(), asked=["U0DAN"], configured=dm, dm=dm, action=Action
        )
        assert request["text"] == "Consultation requested on C-7"
        text = valid(request)
        assert "Not improving" in text and "8+ weeks, still 10 or more" in text
        recommended = renderer.message(
            "consults/consult_recommended", v=view_of(), prescribers=["U0ALICE"], dm=dm, action=Action
        )
        assert recommended["text"] == "Consultant's recommendation on C-7"
        assert "gives no medical advice" in valid(recommended)
    settled = view_of(status="modified", outcome="Accepted with changes", responded_by="U0ALICE")
    for template in ("consults/consult_request", "consults/consult_recommended"):
        edited = renderer.message(
            template,
            v=settled,
            asked=["U0DAN"],
            prescribers=["U0ALICE"],
            configured=False,
            dm=False,
            action=Action,
        )
        assert not [b for b in edited["blocks"] if b["type"] == "actions"]
        valid(edited)
    nobody = renderer.message(
        "consults/consult_recommended", v=view_of(), prescribers=[], dm=False, action=Action
    )
    assert "no prescriber" in valid(nobody)
    for choice, outcome in (
        ("accept", "Accepted"),
        ("modify", "Accepted with changes"),
        ("decline", "Declined"),
    ):
        answered = renderer.message(
            "consults/consult_answered",
            ref="C-7",
            consult_id=4,
            actor="U0ALICE",
            outcome=outcome,
            note=None if choice == "accept" else HOSTILE,
            choice=choice,
            dm=True,
            action=Action,
        )
        assert answered["text"] == f"Consultation on C-7: recommendation {outcome.lower()}"
        valid(answered)
    for stage, thread in (("requested", False), ("recommended", True)):
        reminder = renderer.message(
            "consults/consult_reminder",
            ref="C-7",
            consult_id=4,
            stage=stage,
            since=NOW,
            url=None,
            people=["U0ALICE"],
            thread=thread,
            action=Action,
        )
        assert reminder["text"].startswith("Reminder: consultation on C-7")
        valid(reminder)


def test_case_section_minutes_and_help(renderer):
    for status in ("requested", "recommended", "accepted", "declined"):
        consult = Consult(
            id=4,
            case_id=7,
            status=status,
            requested_by="U0BOB",
            requested_at=NOW,
            consultants="U0DAN",
            recommended_by="U0DAN",
            responded_by="U0ALICE",
            responded_at=NOW,
        )
        valid(
            renderer.message(
                "consults/consult_case_section", c=consult, titles=RESPONSE_TITLES, action=Action
            )
        )
    totals = MinutesTotals("2026-11", [MinutesLine("C-7", 45, 2), MinutesLine("C-9", 40, 1)], everything=True)
    text = valid(renderer.message("consults/consult_minutes", t=totals))
    assert "*C-7*: 45 min (2 entries)" in text and "*Total*: 85 min over 2 cases" in text
    empty = valid(
        renderer.message("consults/consult_minutes", t=MinutesTotals("2026-10", [], everything=False))
    )
    assert "No consultant minutes logged for 2026-10" in empty
    valid(renderer.message("consults/consult_help", usage=["`/consult <case> request [reason]`"]))


def test_forms(renderer):
    """The "consult_recommend_form" and "consult_response_form" templates, through the helpers
    the handlers use."""
    form = recommendation_view(renderer, view_of())
    assert View(**form).to_dict() and form["callback_id"] == Callback.CONSULT_RECOMMEND
    assert {b.get("block_id") for b in form["blocks"]} >= {
        BlockId.CONSULT_RECOMMENDATION,
        BlockId.CONSULT_MINUTES,
    }
    for choice in ("modify", "decline"):
        form = response_view(renderer, view_of(status="recommended", choice=choice))
        assert View(**form).to_dict() and form["private_metadata"] == f"4:{choice}"
        assert len(form["title"]["text"]) <= 24


def test_review_overdue_and_discharge_summary(renderer):
    for waiting in (["U0ALICE", "U0CAROL"], []):
        overdue = renderer.message(
            "reviews/review_overdue",
            ref="C-7",
            review_id=3,
            days=8,
            started_at=NOW,
            waiting=waiting,
            action=Action,
        )
        assert overdue["text"] == "Case review on C-7 still open, 8 days overdue"
        valid(overdue)
    summary = renderer.message(
        "reviews/review_discharge_summary",
        ref="C-7",
        decided_by="U0ALICE",
        decided_at=NOW,
        plan=[("Warning signs", HOSTILE), ("Whom to call", HOSTILE)],
        scores=[],
        url=None,
    )
    assert summary["text"] == "Discharge summary for C-7"
    assert "No PHQ-9 or GAD-7 scores were recorded" in valid(summary)
