"""`/audit`, end to end: the paged timeline, who may read it, bad input, and exports sent
by DM through Slack's external upload flow (CSV, JSON, FHIR R5), parsed back."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pytest
from fhir.resources.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.bundle import Bundle

from bot.audit.service import PAGE_SIZE
from bot.auditlog import APP_ACTOR
from bot.ids import Action
from tests.audit_helpers import delete, edit, file_share, reply
from tests.support import (
    ADMIN,
    ALICE,
    BOB,
    MALLORY,
    care_team,
    reply_text,
)

DATE_TOKEN = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]+>")


SEQ = r"· #(\d+)"


def _busy_case(harness, label="Blue Heron") -> int:
    """A case with more than one page of events."""
    case_id = care_team(harness, {ALICE: "prescriber"}, label=label)
    ref = f"C-{case_id}"
    for _ in range(4):
        harness.command(ALICE, f"add {ref} <@{BOB}> therapist")
        harness.command(ALICE, f"remove {ref} <@{BOB}>")
    harness.command(ALICE, f"show {ref}")
    return case_id


def test_timeline_is_newest_first_paged_and_in_the_readers_zone(harness):
    case_id = _busy_case(harness)
    before = harness.audit_events(case_id=case_id)
    total = len(before)
    assert total > PAGE_SIZE
    harness.command(ALICE, f"C-{case_id}", command="/audit")
    first = harness.last_reply()
    assert first["response_type"] == "ephemeral"
    text = reply_text(first)
    assert f"Audit trail of C-{case_id}" in text and f"{total} events" in text and "page 1 of 2" in text
    sections = [b["text"]["text"] for b in first["blocks"] if b["type"] == "section"]
    seqs = [int(re.search(SEQ, s).group(1)) for s in sections]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert seqs[0] == before[-1].seq
    assert all(DATE_TOKEN.search(s) for s in sections)  # Slack shows each reader's zone
    # Plain sentences, people as mentions, case-level ids only; the relay's delivery
    # events are folded under the step that queued the message, never a line of their own.
    page_events = [e for e in before if e.seq <= seqs[0]][-PAGE_SIZE:]
    steps = [e for e in page_events if not e.action.startswith("message.")]
    assert len(sections) == len(steps) + (page_events[0].action.startswith("message."))
    assert sections[0].startswith(f"<@{ALICE}> viewed C-{case_id}\n")
    assert f"<@{ALICE}> added <@{BOB}> to the team as therapist" in text
    assert f"<@{ALICE}> removed <@{BOB}> from the team" in text
    assert "messages delivered" in text and "↳" in text
    for internal in ("outbox:", "=None", "message.", "member.", "via command", "case.viewed"):
        assert internal not in text, internal
    buttons = [e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (Action.AUDIT_OLDER, f"{case_id}:2:{before[-1].seq}")
    ]

    # The reading itself is in the trail, with the page read.
    viewed = [e for e in harness.audit_events(case_id=case_id) if e.action == "audit.viewed"]
    assert [(e.actor, json.loads(e.details)) for e in viewed] == [(ALICE, {"page": 1})]

    # Typed, page 2 counts from the newest event now (the view above is one more).
    now = [e.seq for e in harness.audit_events(case_id=case_id)]
    harness.command(ALICE, f"C-{case_id} page 2", command="/audit")
    second = [b["text"]["text"] for b in harness.last_reply()["blocks"] if b["type"] == "section"]
    seqs2 = [int(re.search(SEQ, s).group(1)) for s in second]
    page2 = [
        e
        for e in harness.audit_events(case_id=case_id)
        if e.seq in sorted(now, reverse=True)[PAGE_SIZE : 2 * PAGE_SIZE]
    ]
    assert seqs2 == [e.seq for e in reversed(page2) if not e.action.startswith("message.")]
    assert second[-1].startswith(f"<@{ALICE}> opened C-{case_id}\n")  # the oldest event is last


def test_older_and_newer_buttons_replace_the_message(harness):
    case_id = _busy_case(harness)
    harness.command(ALICE, f"C-{case_id}", command="/audit")
    first = harness.last_reply()
    [older] = [e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    url = f"{harness.slack.url}respond/audit-page"
    harness.action(ALICE, older["action_id"], older["value"], response_url=url)
    page = harness.slack.calls_to("response_url")[-1].args
    assert page["replace_original"] in (True, "true") and "page 2 of 2" in reply_text(page)
    # Counted from the same newest event: page 2 starts right where page 1 ended.
    shown1 = [int(x) for x in re.findall(SEQ, reply_text(first))]
    shown2 = [int(x) for x in re.findall(SEQ, reply_text(page))]
    assert shown2[0] == shown1[-1] - 1 or shown2[0] < shown1[-1]
    assert not set(shown1) & set(shown2)
    [newer] = [e for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert newer["action_id"] == Action.AUDIT_NEWER
    harness.action(ALICE, newer["action_id"], newer["value"], response_url=url)
    again = harness.slack.calls_to("response_url")[-1].args
    assert "page 1 of 2" in reply_text(again)
    assert [int(x) for x in re.findall(SEQ, reply_text(again))] == shown1
    viewed = [(e.source, json.loads(e.details)["page"]) for e in harness.audit_events(action="audit.viewed")]
    assert viewed == [("command", 1), ("button", 2), ("button", 1)]

    # A click by someone off the team (or a forged value) is refused like everything else.
    harness.action(MALLORY, Action.AUDIT_OLDER, older["value"], response_url=url)
    refusal = harness.slack.calls_to("response_url")[-1].args
    assert "don't have access" in reply_text(refusal) and refusal["replace_original"] in (False, "false")
    harness.action(ALICE, Action.AUDIT_OLDER, "junk", response_url=url)
    assert "no longer works" in reply_text(harness.slack.calls_to("response_url")[-1].args)
    assert ("button:audit_older", "denied") in harness.audit_actions(actor=MALLORY)


def test_only_the_team_and_admins_read_the_trail_and_refusals_reveal_nothing(harness):
    case_id = care_team(harness, {ALICE: "prescriber"}, label="Secret Heron")
    harness.command(MALLORY, f"C-{case_id}", command="/audit")
    existing = harness.last_reply_text()
    harness.command(MALLORY, "C-999", command="/audit")
    missing = harness.last_reply_text()
    assert existing.replace(f"C-{case_id}", "C-N") == missing.replace("C-999", "C-N")
    harness.command(MALLORY, f"C-{case_id} export json", command="/audit")
    assert "don't have access" in harness.last_reply_text()
    assert not harness.slack.calls_to("files.getUploadURLExternal")
    denied = [(e.action, e.outcome, e.case_id) for e in harness.audit_events(actor=MALLORY)]
    assert denied == [
        ("command:/audit", "denied", case_id),
        ("command:/audit", "denied", None),
        ("command:/audit", "denied", case_id),
    ]
    # The team sees the probe in the case's own trail.
    harness.command(ALICE, f"C-{case_id}", command="/audit")
    assert "<@U0MALLORY>" in harness.last_reply_text() and "denied" in harness.last_reply_text()

    harness.command(ADMIN, f"C-{case_id}", command="/audit")
    assert f"Audit trail of C-{case_id}" in harness.last_reply_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C-1 page 0", "is not a page number"),
        ("C-1 page two", "is not a page number"),
        ("C-1 page ²", "is not a page number"),  # a digit to str.isdigit, not to int()
        ("C-1 page", "Say which page"),
        ("C-1 page 9", "there is no page 9"),
        ("C-1 export pdf", "is not an export format"),
        ("C-1 export csv json", "one format"),
        ("C-1 frobnicate", "is not an /audit option"),
        ("case-one", "is not a case id"),
    ],
)
def test_bad_input_gets_usage_and_changes_nothing(harness, text, expected):
    care_team(harness, {ALICE: "prescriber"})
    before = len(harness.audit_events(action="audit.viewed"))
    harness.command(ALICE, text, command="/audit")
    reply = harness.last_reply_text()
    assert expected in reply and "Usage:" in reply
    assert len(harness.audit_events(action="audit.viewed")) == before
    assert harness.audit_actions(actor=ALICE)[-1] == ("command:/audit", "bad_input")


def test_help_is_answered_and_audited(harness):
    harness.command(ALICE, "", command="/audit")
    assert "/audit <case> export" in harness.last_reply_text().replace("&lt;", "<").replace("&gt;", ">")
    harness.command(ALICE, "help", command="/case")
    helps = [json.loads(e.details)["command"] for e in harness.audit_events(action="help.viewed")]
    assert helps == ["/audit", "/case"]


# -- exports ------------------------------------------------------------------------------------


def _two_cases_with_threads(harness) -> tuple[int, int]:
    mine = care_team(harness, {ALICE: "prescriber", BOB: "therapist"}, label="Blue Heron")
    root = harness.root_ts(mine)
    original = reply(root, BOB, '=HYPERLINK("x") nausea, week 2')
    harness.event(original)
    harness.event(edit(original, "nausea improving, week 2"))
    harness.event(file_share(root, ALICE, "labs", "labs-blue.pdf"))
    gone = reply(root, ALICE, "wrong thread, sorry")
    harness.event(gone)
    harness.event(delete(gone))
    theirs = care_team(harness, {MALLORY: "prescriber"}, label="Red Kite")
    harness.event(reply(harness.root_ts(theirs), MALLORY, "OTHER CASE SECRET"))
    return mine, theirs


def _exported(harness, user: str) -> tuple[bytes, dict]:
    complete = harness.slack.calls_to("files.completeUploadExternal")[-1].args
    files = complete["files"] if isinstance(complete["files"], list) else json.loads(complete["files"])
    content = harness.slack.uploads[files[0]["id"]]
    return content, complete


def _export(harness, case_id: int, fmt: str, user: str = ALICE) -> tuple[bytes, dict]:
    harness.command(user, f"C-{case_id} export {fmt}", command="/audit")
    assert "in a DM" in harness.last_reply_text(), harness.last_reply_text()
    return _exported(harness, user)


def test_csv_export_is_sent_by_dm_and_holds_this_case_only(harness):
    mine, theirs = _two_cases_with_threads(harness)
    content, complete = _export(harness, mine, "csv")
    assert harness.slack.calls_to("conversations.open")[-1].args["users"] == ALICE
    assert complete["channel_id"] == "D0ALICE"
    assert f"C-{mine}" in complete["initial_comment"] and "Blue Heron" not in complete["initial_comment"]
    upload_request = harness.slack.calls_to("files.getUploadURLExternal")[-1].args
    assert upload_request["filename"].endswith(".csv") and int(upload_request["length"]) == len(content)

    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert rows[0]["record"] == "export" and rows[0]["target"] == f"C-{mine}"
    events = [r for r in rows if r["record"] == "event"]
    lines = [r for r in rows if r["record"] == "transcript"]
    expected = harness.audit_events(case_id=mine)
    assert [int(r["seq"]) for r in events] == [
        e.seq for e in expected if not e.action.startswith("audit.export")
    ]
    assert all(r["hash_valid"] == "true" for r in events)
    assert [r["kind"] for r in lines] == ["posted", "edited", "file_shared", "posted", "deleted"]
    assert lines[0]["text"] == '\'=HYPERLINK("x") nausea, week 2'  # never a live formula
    assert lines[1]["text"] == "nausea improving, week 2"
    assert "labs-blue.pdf" in lines[2]["files"]
    assert b"OTHER CASE SECRET" not in content and b"Red Kite" not in content
    other_seqs = {str(e.seq) for e in harness.audit_events(case_id=theirs)}
    assert not other_seqs & {r["seq"] for r in events}

    exported = harness.audit_events(action="audit.exported")[-1]
    details = json.loads(exported.details)
    assert exported.case_id == mine and exported.actor == ALICE
    assert details["sha256"] == hashlib.sha256(content).hexdigest() and details["format"] == "csv"
    assert ("audit.export_delivered", "ok") in harness.audit_actions(case_id=mine)


def test_json_export_parses_and_links_events_to_the_transcript(harness):
    mine, _ = _two_cases_with_threads(harness)
    content, _ = _export(harness, mine, "json")
    doc = json.loads(content)
    assert doc["case"] == f"C-{mine}" and doc["exported_by"] == ALICE
    assert "OTHER CASE SECRET" not in content.decode()
    by_correlation = {e["correlation_id"]: e for e in doc["events"]}
    for line in doc["transcript"]:
        assert by_correlation[line["event_id"]]["action"].startswith("thread.")
    assert doc["transcript"][0]["text"].startswith("=HYPERLINK")  # JSON keeps the text as written
    assert all(e["hash_valid"] for e in doc["events"])


def test_fhir_export_is_a_valid_r5_bundle_of_audit_events(harness):
    mine, _ = _two_cases_with_threads(harness)
    content, _ = _export(harness, mine, "fhir")
    bundle = Bundle.model_validate_json(content)
    assert bundle.type == "collection"
    resources = [entry.resource for entry in bundle.entry]
    assert resources and all(isinstance(r, FhirAuditEvent) for r in resources)
    expected = [e for e in harness.audit_events(case_id=mine) if not e.action.startswith("audit.export")]
    assert [r.id for r in resources] == [f"seq-{e.seq}" for e in expected]
    case_ids = {
        ent.what.identifier.value for r in resources for ent in r.entity if ent.what and ent.what.identifier
    }
    assert f"C-{mine}" in case_ids and not any(v.startswith("C-") and v != f"C-{mine}" for v in case_ids)
    created = resources[0]
    assert created.code.coding[0].code == "case.created" and created.action == "C"
    assert created.outcome.code.code == "0" and created.agent[0].who.identifier.value == ALICE
    edited = next(r for r in resources if r.code.coding[0].code == "thread.message_edited")
    texts = [d.valueString for ent in edited.entity for d in ent.detail or [] if d.type.text == "text"]
    assert texts == ["nausea improving, week 2"]
    deliveries = [r for r in resources if r.code.coding[0].code == "message.delivered"]
    assert deliveries and deliveries[0].agent[0].requestor is False
    assert b"OTHER CASE SECRET" not in content
    assert APP_ACTOR not in {r.agent[0].who.identifier.value for r in resources if r.agent[0].who.identifier}


def test_an_admin_can_export_and_a_failed_upload_is_reported_and_audited(harness):
    case_id = care_team(harness, {ALICE: "prescriber"})
    harness.slack.fail("files.getUploadURLExternal", status=500, times=1)
    harness.command(ADMIN, f"C-{case_id} export", command="/audit")
    assert "was not sent" in harness.last_reply_text()
    assert ("audit.export_failed", "error") in harness.audit_actions(actor=ADMIN)
    content, _ = _export(harness, case_id, "csv", user=ADMIN)
    assert content.startswith(b"record,seq,")
