"""The safety and on-call templates: valid Block Kit for every kind and state, user text escaped,
and notification text that carries the case id only (never the risk level or the plan)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.ids import Action, BlockId, Callback
from bot.oncall.service import ShiftLine
from bot.render import Renderer
from bot.safety.policy import LEVELS, MAX_SECTION, METHODS, PLAN_SECTIONS
from bot.safety.service import PlanSection, SafetyCard

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
HOSTILE = 'Fox <!channel> <@U123> "quote" \\ & </b>\n{{ x }}'
renderer = Renderer()

CARD = SafetyCard(
    id=3,
    ref="SR-3",
    case_id=7,
    case_ref="C-7",
    level="high",
    level_word="High",
    method_word="C-SSRS screen",
    urgent=True,
    imminent=False,
    recorded_by="U0A",
    created_at=NOW,
    plan=[PlanSection(heading, HOSTILE) for _, heading, _ in PLAN_SECTIONS],
    follow_up_owner="U0B",
    follow_up_date=date(2026, 11, 25),
    ack_due_at=NOW,
    escalate_at=NOW,
    deadline="15 minutes",
    escalation_step=0,
    acknowledged_by=None,
    acknowledged_at=None,
    superseded=False,
    prescribers=["U0A"],
    case_managers=["U0C"],
    alerted=["U0A", "U0B"],
    no_prescriber=False,
)
KINDS = ("alert", "reminder", "escalation", "follow_up", "overdue")


def valid(message: dict) -> dict:
    assert message["text"].strip()
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    return message


def buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("kind", KINDS)
def test_safety_alert_every_kind(kind):
    message = valid(
        renderer.message("safety/safety_alert", r=CARD, action=Action, kind=kind, reader="U0A", on_call=False)
    )
    assert "C-7" in message["text"]
    assert "High" not in message["text"] and "Fox" not in message["text"] and "suicid" not in message["text"]
    assert buttons(message) == ([Action.SAFETY_ACK] if kind in ("alert", "reminder") else [])
    acked = valid(
        renderer.message(
            "safety/safety_alert",
            r=replace(CARD, acknowledged_by="U0A", acknowledged_at=NOW),
            action=Action,
            kind=kind,
            reader="U0B",
            on_call=False,
        )
    )
    assert buttons(acked) == []


def test_siren_only_on_urgent_items():
    low = replace(CARD, level="low", level_word="Low", urgent=False, ack_due_at=None, escalate_at=None)
    summary = valid(renderer.message("safety/safety_summary", r=low, action=Action))
    assert "🚨" not in json.dumps(summary, ensure_ascii=False) and ":rotating_light:" not in json.dumps(
        summary
    )
    assert summary["text"] == "Safety assessment recorded on C-7"
    urgent = valid(renderer.message("safety/safety_summary", r=CARD, action=Action))
    assert urgent["text"] == "Urgent safety alert on C-7" and "🚨" in urgent["blocks"][0]["text"]["text"]
    assert "C-SSRS screen" in json.dumps(urgent)  # the level names how it was assessed
    assert "restricted" in urgent and "High" not in urgent["restricted"]


def test_receipt_shows_crisis_text_for_imminent_only():
    imminent = replace(CARD, level="imminent", level_word="Imminent", imminent=True)
    shown = valid(renderer.message("safety/safety_receipt", r=imminent, action=Action, crisis_text=HOSTILE))
    dumped = json.dumps(shown)
    assert "Imminent risk" in dumped and "&lt;!channel&gt;" in dumped and "<!channel>" not in dumped
    high = valid(renderer.message("safety/safety_receipt", r=CARD, action=Action, crisis_text="CALL 988"))
    assert "CALL 988" not in json.dumps(high)
    lonely = valid(
        renderer.message(
            "safety/safety_receipt",
            r=replace(CARD, no_prescriber=True, prescribers=[]),
            action=Action,
            crisis_text="x",
        )
    )
    assert "no prescriber" in json.dumps(lonely)


def test_escalation_in_the_thread_asks_for_a_prescriber_now():
    message = valid(renderer.message("safety/safety_escalation", r=CARD, action=Action, audience="thread"))
    assert "now" in message["blocks"][0]["text"]["text"] and "<@U0A>" in message["blocks"][0]["text"]["text"]
    assert message["text"] == "Escalation: urgent safety alert on C-7 not acknowledged"


def test_safety_form_and_help():
    view = renderer.view(
        "safety/safety_form",
        callback_id=Callback.SAFETY_FORM,
        metadata="7",
        case_ref="C-7",
        block=BlockId,
        methods=list(METHODS.items()),
        levels=list(LEVELS.items()),
        sections=[
            {"block_id": f"b{i}", "heading": h, "hint": hint} for i, (_, h, hint) in enumerate(PLAN_SECTIONS)
        ],
        max_section=MAX_SECTION,
        owner="U0A",
    )
    assert View(**view).to_dict() == view
    ids = [b.get("block_id") for b in view["blocks"]]
    assert BlockId.SAFETY_RISK in ids and BlockId.SAFETY_OWNER in ids and BlockId.SAFETY_FOLLOW_UP in ids
    valid(renderer.message("safety/safety_help", usage=["`/safety <case>`"], deadline="15 minutes"))


def test_oncall_templates():
    shift = ShiftLine("OC-1", "U0D", NOW, NOW, True)
    context = dict(zone="Europe/Paris", working="09:00-17:00, Mon, Tue")
    listing = valid(renderer.message("oncall/list", shifts=[shift], **context))
    assert "on call now" in json.dumps(listing)
    assert "Nobody is on the rota" in json.dumps(valid(renderer.message("oncall/list", shifts=[], **context)))
    for added in (True, False):
        valid(renderer.message("oncall/changed", shift=shift, added=added, **context))
    valid(renderer.message("oncall/help", usage=["`/oncall list` <x>"], **context))
    told = valid(renderer.message("oncall/nobody_on_call", case_ref="C-7", item="SE-2"))
    assert told["text"] == "Urgent item SE-2 on C-7: nobody is on call"


def test_the_person_on_call_is_told_why_the_alert_came_to_them():
    on_call = renderer.message(
        "safety/safety_alert", r=CARD, action=Action, kind="alert", reader="U0DAN", on_call=True
    )
    assert "you are on call" in json.dumps(on_call) and buttons(on_call) == [Action.SAFETY_ACK]
    prescriber = renderer.message(
        "safety/safety_alert", r=CARD, action=Action, kind="alert", reader="U0A", on_call=False
    )
    assert "you are on call" not in json.dumps(prescriber)
    # Neither prescriber, owner nor on call (a case manager): no banner, no button to be refused.
    manager = renderer.message(
        "safety/safety_alert", r=CARD, action=Action, kind="alert", reader="U0CM", on_call=False
    )
    assert "you are on call" not in json.dumps(manager) and buttons(manager) == []
