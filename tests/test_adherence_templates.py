"""Every adherence template renders valid Block Kit in every state, with hostile values, and
its notification text carries the case id and priority only."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.adherence.service import AdherenceCard, ReportLine
from bot.ids import Action, BlockId, Callback
from bot.render import Renderer

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
HOSTILE = 'lithium <!channel> <@U123> "quote" \\ & </b>\n{{ x }}'
renderer = Renderer()

OPEN = AdherenceCard(
    id=7,
    ref="AD-7",
    case_id=3,
    case_ref="C-3",
    kind="stopped",
    kind_word="Stopped on their own",
    priority="high",
    priority_word="High",
    high_risk=True,
    status="open",
    reporter="U0THERA",
    created_at=NOW,
    medication=HOSTILE,
    reason=HOSTILE,
    ack_due_at=NOW + timedelta(hours=4),
    escalate_at=NOW + timedelta(hours=6),
    deadline="4 hours",
    overdue=False,
    escalation_step=0,
    reminded_at=None,
    escalated_at=None,
    acknowledged_by=None,
    acknowledged_at=None,
    plan_label=None,
    plan_note=None,
    plan_by=None,
    plan_at=None,
    no_prescriber=False,
    prescribers=["U0PRESC1"],
    case_managers=["U0CASEM"],
    routed_to=["U0PRESC1"],
    age="0 min",
    add_prescriber="`/case add C-3 @person prescriber`",
)
CARDS = {
    "open": OPEN,
    "overdue": replace(OPEN, overdue=True, escalation_step=2, reminded_at=NOW, escalated_at=NOW),
    "acknowledged": replace(OPEN, status="acknowledged", acknowledged_by="U0PRESC1", acknowledged_at=NOW),
    "planned": replace(
        OPEN,
        status="planned",
        acknowledged_by="U0PRESC2",
        acknowledged_at=NOW,
        plan_label="Switch medication",
        plan_note=HOSTILE,
        plan_by="U0PRESC1",
        plan_at=NOW,
    ),
    "recorded": replace(
        OPEN,
        status="recorded",
        kind="as_prescribed",
        kind_word="Taking as prescribed",
        priority=None,
        priority_word=None,
        ack_due_at=None,
        escalate_at=None,
        deadline=None,
        routed_to=[],
    ),
    "no_prescriber": replace(OPEN, no_prescriber=True, prescribers=[], routed_to=["U0CASEM"]),
}
MESSAGES = {
    "adherence/adherence_summary": [{}],
    "adherence/adherence_dm": [
        {"kind": "new"},
        {"kind": "reminder"},
        {"kind": "fallback"},
        {"kind": "on_call"},
    ],
    "adherence/adherence_escalation": [{"audience": "thread"}, {"audience": "dm"}],
    "adherence/adherence_receipt": [{}],
    "adherence/adherence_update": [{"step": "acknowledged"}, {"step": "planned"}, {"step": "escalated"}],
}


def _valid(message: dict) -> str:
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    return message["text"]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_messages_render_in_every_state_without_clinical_notification_text(name):
    # Only the summary and the receipt exist for "taking as prescribed": nobody is DMed or chased.
    states = (
        CARDS
        if name in ("adherence/adherence_summary", "adherence/adherence_receipt")
        else {state: card for state, card in CARDS.items() if state != "recorded"}
    )
    for state, card in states.items():
        for extra in MESSAGES[name]:
            message = renderer.message(name, r=card, action=Action, block=BlockId, **extra)
            text = _valid(message)
            assert "C-3" in text and "lithium" not in text.lower() and "stopped" not in text.lower(), (
                state,
                text,
            )


def test_list_help_and_forms_render():
    line = ReportLine(
        "AD-7", "Stopped on their own", "High", HOSTILE, "open", "U0THERA", "2 h", True, 2, None
    )
    listed = renderer.message("adherence/adherence_list", case_ref="C-3", lines=[line] * 45)
    _valid(listed)
    assert listed["blocks"][-1]["elements"][0]["text"] == "Showing 40 of 45: 5 more not shown."
    _valid(renderer.message("adherence/adherence_list", case_ref="C-3", lines=[]))
    _valid(
        renderer.message(
            "adherence/adherence_help", usage=["`/adherence &lt;case&gt;`"], high="high 4 hours", moderate="x"
        )
    )
    option = {"text": {"type": "plain_text", "text": "x"}, "value": "x"}
    report = renderer.view(
        "adherence/adherence_report",
        callback_id=Callback.ADHERENCE_REPORT,
        metadata='{"case": 3}',
        block=BlockId,
        case_ref="C-3",
        kind_options=[option],
        medication_options=[option],
        max_medication=120,
        max_reason=2000,
        reason=HOSTILE,
    )
    assert View(**report).to_dict() == report
    plan = renderer.view(
        "adherence/adherence_plan",
        callback_id=Callback.ADHERENCE_PLAN,
        block=BlockId,
        r=OPEN,
        plan_options=[option],
        max_note=1000,
    )
    assert View(**plan).to_dict() == plan
