"""Smaller pieces of the audit trail: the /audit parser (with Hypothesis), reading Slack
message events, the export formats on awkward text, the templates, and the migration."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.audit import export as audit_export
from bot.audit.commands import ExportFormat, ExportTrail, ShowTimeline, parse_audit_command
from bot.audit.service import Timeline, TimelineItem, fold
from bot.audit.thread_events import read_thread_activity
from bot.audit.transcript import TranscriptLine
from bot.errors import BadInput
from bot.inputs import Help
from bot.render import Renderer
from storage.audit import EntryKind
from storage.core import AuditEvent

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# -- /audit parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("C-12", ShowTimeline(12)),
        ("c12", ShowTimeline(12)),
        ("C-12 page 3", ShowTimeline(12, 3)),
        ("C-12  PAGE  3", ShowTimeline(12, 3)),
        ("C-12 export", ExportTrail(12, ExportFormat.CSV)),
        ("C-12 export FHIR", ExportTrail(12, ExportFormat.FHIR)),
        ("C-12 export json", ExportTrail(12, ExportFormat.JSON)),
    ],
)
def test_parse_audit_command(text, expected):
    assert parse_audit_command(text) == expected


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_parse_audit_command_never_fails_except_with_bad_input(text):
    try:
        parsed = parse_audit_command(text)
    except BadInput as err:
        assert err.usage  # always tells the right usage
    else:
        assert isinstance(parsed, Help | ShowTimeline | ExportTrail)


@given(st.integers(1, 10**9 - 1), st.integers(1, 100_000), st.sampled_from(list(ExportFormat)))
def test_parse_audit_command_round_trips(case_id, page, fmt):
    assert parse_audit_command(f"C-{case_id} page {page}") == ShowTimeline(case_id, page)
    assert parse_audit_command(f"C-{case_id} export {fmt}") == ExportTrail(case_id, fmt)


# -- reading Slack message events --------------------------------------------------------------


def test_reading_message_events():
    base = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1790000000.000100"}
    reply = {**base, "thread_ts": "1700000000.000100"}
    activity = read_thread_activity(reply, NOW)
    assert activity.kind == EntryKind.POSTED and activity.at == datetime.fromtimestamp(1790000000.0001, UTC)
    assert read_thread_activity(base, NOW) is None  # not in a thread
    assert read_thread_activity({**reply, "subtype": "thread_broadcast"}, NOW).kind == EntryKind.POSTED
    assert read_thread_activity({**reply, "bot_id": "B1"}, NOW) is None
    assert read_thread_activity({**reply, "subtype": "channel_topic"}, NOW) is None
    assert read_thread_activity({**reply, "ts": "garbage"}, NOW).at == NOW
    shared = read_thread_activity(
        {**reply, "subtype": "file_share", "files": [{"id": "F1", "size": "x"}]}, NOW
    )
    assert shared.kind == EntryKind.FILE_SHARED and shared.files[0].size is None
    changed = {"type": "message", "subtype": "message_changed", "channel": "C1", "previous_message": reply}
    assert read_thread_activity({**changed, "message": {**reply, "bot_id": "B1", "text": "x"}}, NOW) is None
    assert read_thread_activity({**changed, "message": reply}, NOW) is None  # nothing changed
    deleted = {"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": reply["ts"]}
    assert read_thread_activity(deleted, NOW) is None  # nothing to say whose or where
    gone = read_thread_activity({**deleted, "previous_message": {**reply, "ts": None}}, NOW)
    assert gone.kind == EntryKind.DELETED and gone.message_ts == reply["ts"] and gone.at == NOW


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
message_keys = st.sampled_from(
    [
        "subtype",
        "channel",
        "user",
        "text",
        "ts",
        "thread_ts",
        "message",
        "previous_message",
        "files",
        "edited",
        "deleted_ts",
        "event_ts",
        "bot_id",
    ]
)
subtypes = st.sampled_from([None, "file_share", "message_changed", "message_deleted", "bot_message"])


@settings(max_examples=300)
@given(st.dictionaries(message_keys, json_values | subtypes, max_size=8))
def test_reading_any_payload_never_raises(event):
    activity = read_thread_activity({"type": "message", **event}, NOW)
    assert activity is None or (activity.channel and activity.thread_ts != activity.message_ts)


# -- export formats ----------------------------------------------------------------------------

AWKWARD = 'line one\nline "two", with commas; ünïcødé <@U1> & =1+1\r\nend'


def _data() -> audit_export.ExportData:
    event = audit_export.EventRecord(
        seq=7,
        at=NOW,
        team_id="T1",
        actor="U1",
        action="thread.message_posted",
        outcome="ok",
        source="thread",
        target="message:1.2",
        correlation_id="Ev1",
        details={"chars": len(AWKWARD)},
        prev_hash="a" * 64,
        hash="b" * 64,
        hash_valid=True,
    )
    line = TranscriptLine(
        7, "posted", NOW, "U1", "1.2", "1.1", "Ev1", AWKWARD, [{"id": "F1", "name": "-x.pdf"}], False
    )
    return audit_export.ExportData("C-3", NOW, "U1", [event], [line])


def test_csv_keeps_awkward_text_and_defuses_formulas():
    rows = list(csv.DictReader(io.StringIO(audit_export.to_csv(_data()).decode())))
    assert [r["record"] for r in rows] == ["export", "event", "transcript"]
    assert rows[2]["text"] == AWKWARD  # newlines, quotes, commas survive a round trip
    assert json.loads(rows[1]["details"]) == {"chars": len(AWKWARD)}
    assert audit_export._cell("=cmd()") == "'=cmd()" and audit_export._cell("@SUM") == "'@SUM"
    assert audit_export._cell(-3) == "'-3" and audit_export._cell(3) == "3"


def test_json_and_fhir_keep_awkward_text():
    doc = json.loads(audit_export.to_json(_data()))
    assert doc["transcript"][0]["text"] == AWKWARD and doc["events"][0]["hash_valid"] is True
    bundle = audit_export.fhir_bundle(_data())
    [entry] = bundle.entry
    details = {d.type.text: d for ent in entry.resource.entity for d in ent.detail or []}
    assert details["text"].valueString == AWKWARD and details["seq"].valueInteger == 7
    assert entry.resource.action == "C" and entry.resource.recorded == NOW


def test_fhir_keeps_a_transcript_entry_without_its_event():
    data = _data()
    orphan = audit_export.ExportData(data.case_ref, NOW, "U1", [], data.transcript)
    [entry] = audit_export.fhir_bundle(orphan).entry
    assert entry.resource.id == "entry-7"


@pytest.mark.parametrize(
    ("action", "crud"),
    [
        ("case.viewed", "R"),
        ("audit.exported", "R"),
        ("case.created", "C"),
        ("thread.file_shared", "C"),
        ("member.removed", "D"),
        ("transcript.purged", "D"),
        ("message.delivered", "E"),
        ("command:/case", "E"),
        ("case.closed", "U"),
    ],
)
def test_fhir_action_codes(action, crud):
    assert audit_export._crud(action) == crud


# -- templates ---------------------------------------------------------------------------------


def _row(seq: int, action: str, actor: str = "U0ALICE", target: str | None = "C-1", outcome="ok", **details):
    return AuditEvent(
        seq=seq,
        at=NOW,
        actor=actor,
        action=action,
        case_id=1,
        target=target,
        outcome=outcome,
        source="command",
        details=json.dumps(details),
        prev_hash="0" * 64,
        hash="0" * 64,
    )


def _items(n: int) -> list[TimelineItem]:
    rows = [
        _row(
            n - i,
            "case.viewed",
            actor="app" if i % 3 == 0 else "U0ALICE",
            outcome="ok" if i % 2 else "denied",
        )
        for i in range(n)
    ]
    return fold(rows, "C-1")


def _render(items: list[TimelineItem], page=1, pages=1) -> dict:
    t = Timeline(1, "C-1", page, pages, 40, 99, items)
    return Renderer().message(
        "audit/audit_timeline", t=t, older_action="audit_older", newer_action="audit_newer"
    )


@pytest.mark.parametrize(("page", "pages"), [(1, 1), (1, 3), (2, 3), (3, 3)])
def test_timeline_template_renders_and_validates(page, pages):
    message = _render(_items(15), page, pages)
    assert message["text"] == "Audit trail of C-1"
    buttons = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == (["Newer"] if page > 1 else []) + (["Older"] if page < pages else [])
    text = json.dumps(message, ensure_ascii=False)
    assert "CareThread viewed C-1" in text and "<@U0ALICE> viewed C-1 · _denied_" in text


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            _row(
                1,
                "side_effect.reported",
                target="side_effect:4",
                severity="urgent",
                prescribers=1,
                routed_to=1,
            ),
            "<@U0ALICE> reported side effect SE-4 · urgent",
        ),
        (
            _row(
                1,
                "handoff.accepted",
                target="handoff:9",
                kind="coverage",
                role="prescriber",
                previous_role=None,
            ),
            "<@U0ALICE> accepted the coverage handoff of C-1 as prescriber",
        ),
        (
            _row(
                1, "handoff.requested", target="handoff:9", to_user="U0BOB", kind="transfer", role="therapist"
            ),
            "<@U0ALICE> asked <@U0BOB> to take over C-1 (transfer, as therapist)",
        ),
        (
            _row(1, "side_effect.notified", actor="app", target="user:U0BOB", report=4, kind="prescriber"),
            "CareThread told <@U0BOB> about side effect SE-4",
        ),
        (
            _row(1, "member.role_changed", target="user:U0BOB", role="pcp", previous="case-manager"),
            "<@U0ALICE> changed <@U0BOB>'s role from case manager to pcp",
        ),
        (_row(1, "command:/audit", target=None, outcome="denied"), "<@U0ALICE> used /audit"),
        (
            _row(1, "consent.recorded", target="consent:3", roles=["therapist"], expires_on="2027-01-31"),
            "<@U0ALICE> recorded consent for C-1, valid until 2027-01-31",
        ),
        (
            _row(1, "own_channel.created", target="channel:C0OWN1", name="c-1-care"),
            "<@U0ALICE> created <#C0OWN1>, the own channel of C-1",
        ),
        # Unknown, or missing a detail its wording needs: a readable generic sentence.
        (_row(1, "widget.frobbed", target="outbox:61", x={"a": 1}), "<@U0ALICE> · widget: frobbed · C-1"),
        (_row(1, "member.added", target="user:U0BOB"), "<@U0ALICE> · member: added · C-1"),
    ],
)
def test_events_read_as_sentences(row, expected):
    [item] = fold([row], "C-1")
    assert item.sentence == expected
    assert "outbox" not in item.sentence and "None" not in item.sentence and "{" not in item.sentence


def test_deliveries_fold_under_the_step_that_queued_them():
    rows = [  # newest first, as a page is read
        _row(6, "case.viewed"),
        _row(5, "message.failed", actor="app", target="outbox:3", outcome="error"),
        _row(4, "message.retry", actor="app", target="outbox:3", outcome="error"),
        _row(3, "message.delivered", actor="app", target="outbox:2"),
        _row(2, "side_effect.reported", target="side_effect:1", severity="high"),
        _row(1, "message.delivered", actor="app", target="outbox:1"),  # its step is on an older page
    ]
    items = fold(rows, "C-1")
    assert [(i.seq, i.sentence, i.deliveries) for i in items] == [
        (6, "<@U0ALICE> viewed C-1", ""),
        (2, "<@U0ALICE> reported side effect SE-1 · high", "1 message delivered · 1 retry · 1 failed"),
        (1, "CareThread sent messages: 1 message delivered", ""),
    ]
    text = json.dumps(_render(items), ensure_ascii=False)
    assert "↳ 1 message delivered · 1 retry · 1 failed" in text and "outbox" not in text


def test_timeline_template_with_no_events_and_hostile_details():
    empty = _render([])
    assert "No events recorded" in json.dumps(empty)
    hostile = fold(
        [_row(1, "x.y", target='<!channel> "t"'), _row(2, "case.closed", actor='<!here> & "q"')], "C-1"
    )
    rendered = json.dumps(_render(hostile))
    assert "<!channel>" not in rendered and "<!here>" not in rendered and "&lt;!here&gt;" in rendered


def test_alert_and_help_templates_render():
    alert = Renderer().message("audit/audit_alert", seq=12, problem="content does not match its hash", at=NOW)
    assert alert["text"] == "CareThread audit trail verification failed"
    assert "#12" in json.dumps(alert) and "<!date^" in json.dumps(alert)
    helped = Renderer().message("audit/audit_help", usage=["`/audit <case>`"])
    assert "/audit &lt;case&gt;" in json.dumps(helped)
