"""The consent templates render valid Block Kit with hostile values, and the card says what
it may about consent (never what it covers)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.cases.consent import ConsentView
from bot.cases.service import ConsentLine, Member
from bot.ids import BlockId, Callback
from bot.render import Renderer
from tests.support import reply_text

renderer = Renderer()
HOSTILE = 'Fox <!channel> <@U123> "quote" \\ & </b>\n{{ x }}'
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def valid(message: dict) -> dict:
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    assert "<!channel>" not in str(message) and "<@U123>" not in str(message)
    return message


def test_consent_form_is_a_valid_view():
    view = renderer.view(
        "cases/consent_form",
        callback_id=Callback.CASE_CONSENT,
        case_id=7,
        ref="C-7",
        block=BlockId,
        role_options=[{"text": {"type": "plain_text", "text": "Prescriber"}, "value": "prescriber"}],
        part2_options=[{"text": {"type": "plain_text", "text": "No"}, "value": "no"}],
        remind_days=14,
        max_organizations=300,
        max_note=1000,
    )
    assert View(**view).to_dict() == view and view["private_metadata"] == "7"


def test_consent_show_with_and_without_a_consent():
    none = valid(renderer.message("cases/consent_show", ref="C-1", c=None))
    assert "No consent on record" in reply_text(none)
    shown = ConsentView(
        "C-1", date(2026, 1, 2), date(2026, 6, 30), True, ["Prescriber"], HOSTILE, True, HOSTILE, "U0A", NOW
    )
    text = reply_text(valid(renderer.message("cases/consent_show", ref="C-1", c=shown)))
    assert "Expired" in text and "30 Jun 2026" in text and "Covered" in text
    assert valid(renderer.message("cases/consent_show", ref="C-1", c=shown))["text"] == (
        "Consent on record for case C-1"
    )


def test_consent_reminder_and_the_card_line():
    reminder = valid(
        renderer.message("cases/consent_reminder", ref="C-1", expires_on=date(2027, 1, 5), days=0)
    )
    assert reminder["text"] == "Consent for case C-1 expires soon" and "(today)" in reply_text(reminder)
    card = dict(
        ref="C-1", label=HOSTILE, status="open", members=[Member("U0A", "prescriber")], created_by="U0A"
    )
    for line, wording in [
        (ConsentLine(False), "No consent on record"),
        (ConsentLine(True, date(2027, 1, 5), False), "On record until 5 Jan 2027"),
        (ConsentLine(True, date(2026, 1, 5), True), "Expired on 5 Jan 2026"),
    ]:
        message = valid(renderer.message("cases/case_card", created_at=NOW, consent=line, **card))
        assert wording in reply_text(message)
    note = renderer.message(
        "cases/case_note", ref="C-1", kind="consent_recorded", actor="U0A", expires_on=date(2027, 1, 5)
    )
    assert "until 5 Jan 2027" in reply_text(valid(note))
