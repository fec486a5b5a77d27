"""The medication workflow's templates render valid Block Kit with hostile values, keep
medication names out of notification text, and build the one-line change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.ids import Action, BlockId, Callback
from bot.medications.service import ChangeCard, Choice, FormContext, change_line
from bot.render import Renderer
from storage.medications import ChangeKind

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
HOSTILE = 'Fox <!channel> <@U123> "quote" \\ & </b>\n{{ x }}'
renderer = Renderer()

CARD = ChangeCard(
    id=7,
    case_ref="C-1",
    kind="change",
    kind_word="changed",
    line=change_line(ChangeKind.CHANGE, HOSTILE, HOSTILE, HOSTILE, HOSTILE),
    medication=HOSTILE,
    new_medication=None,
    before=HOSTILE,
    after=HOSTILE,
    reason=HOSTILE,
    targets=HOSTILE,
    watch=HOSTILE,
    taper=HOSTILE,
    remeasure=HOSTILE,
    changed_by="U0A",
    changed_at=NOW,
    report_ref="SE-1",
    told=["U0B", "U0C"],
    seen=["U0B"],
    interaction="concern",
    interaction_word="interaction concern",
    interaction_note=HOSTILE,
    interaction_by="U0C",
)
MESSAGES = {
    "med_change_note": dict(c=CARD),
    "med_change_dm": dict(
        c=CARD, role="pharmacist", reminder=True, seen_at=None, action=Action, block=BlockId
    ),
    "med_interaction_dm": dict(c=CARD),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_messages_are_valid_and_their_text_carries_the_case_id_only(name):
    message = renderer.message(
        f"medications/{name}", **{"action": Action, "block": BlockId, **MESSAGES[name]}
    )
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped and "Fox" not in message["text"]
    assert "C-1" in message["text"]


def test_the_restricted_note_says_only_that_the_list_changed():
    message = renderer.message("medications/med_change_note", c=CARD)
    assert message["restricted"].startswith("Case C-1 · <@U0A> changed the medication list · seen by 1 of 2")
    assert "Fox" not in message["restricted"]


@pytest.mark.parametrize("verb", ["add", "change", "stop"])
def test_the_form_is_a_valid_view_for_each_verb(verb):
    context = FormContext(
        case_id=1,
        case_ref="C-1",
        verb=verb,
        medications=[Choice("3", HOSTILE)],
        selected=Choice("3", HOSTILE) if verb != "add" else None,
        name=HOSTILE if verb == "add" else None,
        detail=HOSTILE,
        report_id=2,
        report_ref="SE-2",
    )
    view = renderer.view(
        "medications/med_form",
        callback_id=Callback.MEDICATION_FORM,
        metadata=json.dumps({"case": 1, "verb": verb, "report": 2}),
        f=context,
        kinds=[{"text": {"type": "plain_text", "text": "Herbal"}, "value": "herbal"}],
        block=BlockId,
        max_name=80,
        max_detail=200,
        max_reason=300,
        max_text=1000,
    )
    assert View(**view).to_dict() == view
    ids = {b.get("block_id") for b in view["blocks"]}
    assert (BlockId.MED_TAPER in ids) == (verb != "add")
    assert (BlockId.MED_SWITCH_TO in ids) == (verb == "change")


def test_the_concern_form_is_a_valid_view():
    view = renderer.view(
        "medications/med_concern_form",
        callback_id=Callback.MEDICATION_CONCERN,
        c=CARD,
        block=BlockId,
        max_note=1500,
    )
    assert View(**view).to_dict() == view


def test_the_change_line_escapes_every_part():
    line = change_line(ChangeKind.SWITCH, "a<b", "1 & 2", "3", "why>", "c*d")
    assert line == "*a&lt;b* 1 &amp; 2 → *c*d* 3 · why&gt;"
