"""Every template renders with sample data and is valid Block Kit; values cannot break out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.cases.commands import CASE_USAGE
from bot.cases.home import WaitingItem
from bot.cases.responsibilities import DutyLine
from bot.cases.service import CaseDetails, CaseSummary, ConsentLine, MedicationLine, Member
from bot.contributions import CaseButton, HomeLine
from bot.ids import BlockId, Callback
from bot.inputs import ROLE_HELP
from bot.render import TEMPLATE_DIR, Renderer, TemplateError, escape_mrkdwn, stray_markup
from handlers.cases import ROLE_PLURAL
from storage.cases import ROLE_TITLES, Role

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
HOSTILE = 'Fox <!channel> <@U123> "quote" \\ & </b>\n{{ x }}'
renderer = Renderer()

DETAILS = CaseDetails(
    ref="C-1",
    label=HOSTILE,
    status="open",
    home_channel="C0CARE",
    thread_url="https://slack.com/archives/C0CARE/p1",
    created_by="U0A",
    created_at=NOW,
    closed_at=None,
    close_reason=None,
    members=[Member("U0A", "prescriber"), Member("U0B", "therapist")],
    medications=[MedicationLine(HOSTILE, HOSTILE, "U0A", NOW)],
    my_role="prescriber",
    extra_sections=["*Extra*"],
)
SUMMARY = CaseSummary(1, "C-1", HOSTILE, "open", "therapist", "C0CARE")

MESSAGES = {
    "cases/case_card": dict(
        ref="C-1",
        label=HOSTILE,
        status="open",
        members=DETAILS.members,
        created_by="U0A",
        created_at=NOW,
        consent=ConsentLine(recorded=False),
        extra_lines=[escape_mrkdwn(HOSTILE)],  # card_lines: mrkdwn escaped by the provider
        duties=[DutyLine("refills", HOSTILE, "U0A", False), DutyLine("labs", "Labs", None, True)],
    ),
    "cases/case_note": dict(ref="C-1", kind="closed", actor="U0A", reason=HOSTILE),
    "core/reply": dict(text=HOSTILE, hint=HOSTILE),
    "core/error": dict(message=HOSTILE, usage=CASE_USAGE["add"]),
    "cases/help": dict(case_usage=list(CASE_USAGE.values()), roles=ROLE_HELP),
    "cases/case_created": dict(ref="C-1", label=HOSTILE, channel="C0CARE", role_title="Therapist"),
    "cases/case_show": dict(c=DETAILS),
    "cases/case_list": dict(cases=[SUMMARY] * 60, everything=True),
}
VIEWS = {
    "cases/case_create": dict(
        callback_id=Callback.CASE_CREATE,
        channel="C0CARE",
        block=BlockId,
        roles=list(Role),
        role_options=[
            {"text": {"type": "plain_text", "text": ROLE_TITLES[r]}, "value": r.value} for r in Role
        ],
        role_plural=ROLE_PLURAL,
        max_label=80,
    ),
    "cases/home": dict(
        cases=[SUMMARY],
        waiting=[WaitingItem("C-1", HOSTILE, "https://x.example/a")],
        sections=[
            [
                HomeLine("*My caseload*"),
                HomeLine("*C-1* PHQ-9 12/27", CaseButton("Request consultation", "consult_request", "1")),
            ]
        ],
        now=NOW,
    ),
}


def test_every_template_is_rendered_by_some_test():
    """Each workflow's tests render its own templates; none may be left untested."""
    tests_text = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    untested = [
        name
        for p in TEMPLATE_DIR.rglob("*.json.j2")
        if p.parent.name != "partials"
        and (name := p.relative_to(TEMPLATE_DIR).as_posix().removesuffix(".json.j2"))
        and f'"{name}"' not in tests_text
        and f'"{p.name.removesuffix(".json.j2")}"' not in tests_text  # named through a workflow's helper
    ]
    assert untested == []


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_message_templates_render_valid_block_kit(name):
    message = renderer.message(name, **MESSAGES[name])
    assert message["text"].strip()
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    assert len(message["blocks"]) <= 50


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_templates_render_valid_views(name):
    view = renderer.view(name, **VIEWS[name])
    assert View(**view).to_dict() == view


def test_user_text_cannot_mention_or_break_json():
    message = renderer.message("cases/case_card", **MESSAGES["cases/case_card"])
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    assert "&lt;!channel&gt;" in dumped and "&amp;" in dumped
    label_field = message["blocks"][1]["fields"][0]["text"]
    assert label_field == '*Label*\nFox &lt;!channel&gt; &lt;@U123&gt; "quote" \\ &amp; &lt;/b&gt;\n{{ x }}'
    # Our own mentions still work:
    assert "<@U0A>" in json.dumps(message["blocks"][2])


def test_with_mentions_allows_only_well_formed_user_and_channel_mentions():
    text = renderer.message(
        "core/reply", text="Added <@U0BOB> in <#C0CARE>; <!here> <https://evil|x>", hint=None
    )
    body = text["blocks"][0]["text"]["text"]
    assert "<@U0BOB>" in body and "<#C0CARE>" in body
    assert "&lt;!here&gt;" in body and "&lt;https://evil|x&gt;" in body


def test_notification_text_of_thread_messages_carries_case_id_only():
    for kind in ("member_added", "closed", "med_added", "med_stopped"):
        message = renderer.message(
            "cases/case_note",
            ref="C-7",
            kind=kind,
            actor="U0A",
            user="U0B",
            role="Therapist",
            reason="secret reason",
            name="lithium",
            detail="300 mg",
            previous="PCP",
        )
        assert message["text"] == "Update on case C-7"


def test_no_template_writes_a_raw_angle_bracket():
    """Placeholders like `<role>` in a usage hint are written `&lt;role&gt;`: raw, Slack reads
    them as links and drops them. Every `<…>` token comes from a filter (mention, link, date).
    Checked on the source of every template and partial, rendered or not."""
    jinja = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
    raw = {
        p.relative_to(TEMPLATE_DIR).as_posix(): stray
        for p in sorted(TEMPLATE_DIR.rglob("*.j2"))
        if (stray := stray_markup(jinja.sub("", p.read_text())))
    }
    assert raw == {}


def test_rendered_mrkdwn_carries_only_our_own_tokens(tmp_path: Path):
    for name, context in MESSAGES.items():
        rendered = json.dumps(renderer.message(name, **context))
        assert "<role>" not in rendered and "<label>" not in rendered and "<name>" not in rendered
    assert stray_markup("Hi <@U0A> in <#C0CARE> <!date^1700000000^{date}|x> <https://a.example/b|open>") == []
    assert stray_markup("`/case add @person <role>`") == ["`/case add @person <role>`"]
    assert stray_markup("<!here> <http://a|b> <@u0lower>") != []
    (tmp_path / "slip.json.j2").write_text(
        '{"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "`/x <n>`"}}]}'
    )
    with pytest.raises(TemplateError, match="raw '<'"):
        Renderer(tmp_path).message("slip")


def test_broken_templates_raise(tmp_path: Path):
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "bad.json.j2").write_text('{"text": "x", "blocks": [{"type": "section"}]}')
    (tmp_path / "messages" / "notjson.json.j2").write_text('{"text": "x", ')
    (tmp_path / "messages" / "undefined.json.j2").write_text('{"text": "{{ missing }}"}')
    (tmp_path / "messages" / "notext.json.j2").write_text('{"blocks": []}')
    broken = Renderer(tmp_path)
    with pytest.raises(TemplateError, match="invalid block"):
        broken.message("messages/bad")
    with pytest.raises(TemplateError, match="valid JSON"):
        broken.message("messages/notjson")
    with pytest.raises(Exception, match="missing"):
        broken.message("messages/undefined")
    with pytest.raises(TemplateError, match="non-empty top-level text"):
        broken.message("messages/notext")


def _shaped(tmp_path: Path) -> Renderer:
    """A template whose blocks keep their shape while their texts change."""
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "shaped.json.j2").write_text(
        '{"text": "x", "blocks": ['
        '{"type": "header", "text": {"type": "plain_text", "text": "{{ title|plain }}"}},'
        '{"type": "section", "text": {"type": "mrkdwn", "text": "{{ body|trusted }}"}},'
        '{"type": "actions", "elements": [{"type": "button", "action_id": "a",'
        ' "value": "{{ value|plain }}", "text": {"type": "plain_text", "text": "Go"}}]}]}'
    )
    return Renderer(tmp_path)


def test_blocks_of_a_validated_shape_render_as_slack_sdk_gives_them(tmp_path: Path):
    """The renderer validates a block shape once (bot/render.py Renderer._block); the blocks
    it then passes without slack_sdk are the very ones slack_sdk returns."""
    remembered = _shaped(tmp_path)
    remembered.message("m/shaped", title="Case C-1", body="first", value="1")
    for title, body, value in [("Case C-2", "other", "2"), ("Case C-10", "a longer body", "10")]:
        out = remembered.message("m/shaped", title=title, body=body, value=value)
        fresh = _shaped(tmp_path).message("m/shaped", title=title, body=body, value=value)
        assert out == fresh
        assert out["blocks"] == [Block.parse(b).to_dict() for b in out["blocks"]]


def test_a_validated_shape_does_not_let_an_invalid_block_through(tmp_path: Path):
    """Texts count by their length in a shape, so an over-long header or button value is
    refused after a short one passed; and the mrkdwn check runs on every render."""
    renderer = _shaped(tmp_path)
    renderer.message("m/shaped", title="short", body="ab", value="1")
    with pytest.raises(TemplateError, match="invalid block 'header'"):
        renderer.message("m/shaped", title="x" * 151, body="ab", value="1")
    with pytest.raises(TemplateError, match="invalid block 'actions'"):
        renderer.message("m/shaped", title="short", body="ab", value="1" * 2001)
    with pytest.raises(TemplateError, match="raw '<'"):
        renderer.message("m/shaped", title="short", body="<b", value="1")  # same length as "ab"
    with pytest.raises(TemplateError, match="invalid block 'section'"):
        renderer.message("m/shaped", title="short", body="y" * 3001, value="1")


def _shaped_view(tmp_path: Path) -> Renderer:
    """A modal whose shape stays while its title, metadata and option texts change."""
    (tmp_path / "v").mkdir(exist_ok=True)
    (tmp_path / "v" / "shaped.json.j2").write_text(
        '{"type": "modal", "callback_id": "cb", "private_metadata": "{{ meta|plain }}",'
        ' "title": {"type": "plain_text", "text": "{{ title|plain }}"},'
        ' "submit": {"type": "plain_text", "text": "Save"},'
        ' "blocks": [{"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "Pick"},'
        ' "element": {"type": "static_select", "action_id": "a", "options": [{"text":'
        ' {"type": "plain_text", "text": "{{ option|plain }}"}, "value": "{{ value|plain }}"}]}},'
        ' {"type": "section", "text": {"type": "mrkdwn", "text": "{{ body|trusted }}"}}]}'
    )
    return Renderer(tmp_path)


def test_views_of_a_validated_shape_render_as_slack_sdk_gives_them(tmp_path: Path):
    """A view shape is validated once too (Renderer.view); later views of that shape are
    exactly what slack_sdk's View model returns, and an invalid one is still refused."""
    remembered = _shaped_view(tmp_path)
    remembered.view("v/shaped", meta="1", title="Report", option="Sertraline", value="1", body="ab")
    for meta, title, option in [("2", "Plan", "Lithium"), ("12", "Side effect", "Quetiapine XR")]:
        args = {"meta": meta, "title": title, "option": option, "value": meta, "body": "ab"}
        out = remembered.view("v/shaped", **args)
        assert out == _shaped_view(tmp_path).view("v/shaped", **args)
        assert out == View(**out).to_dict()
    ok = {"meta": "1", "title": "Report", "option": "Sertraline", "value": "1", "body": "ab"}
    with pytest.raises(TemplateError, match="invalid view"):
        remembered.view("v/shaped", **{**ok, "title": "x" * 25})
    with pytest.raises(TemplateError, match="invalid view"):
        remembered.view("v/shaped", **{**ok, "meta": "m" * 3001})
    with pytest.raises(TemplateError, match="invalid view"):
        remembered.view("v/shaped", **{**ok, "body": "y" * 3001})
    with pytest.raises(TemplateError, match="raw '<'"):
        remembered.view("v/shaped", **{**ok, "body": "<b"})
