"""Thread capture, end to end: signed event_callback requests into the real app; assertions
on the transcript table (encrypted), the audit log, and what was ignored."""

from __future__ import annotations

import json
import time

from bot.audit import transcript
from storage.audit import EntryKind, ThreadEntry
from tests.audit_helpers import delete, edit, file_share, next_ts, reply
from tests.support import (
    ALICE,
    BOB,
    CHANNEL,
    MALLORY,
    care_team,
)


def _started(harness) -> tuple[int, str]:
    case_id = care_team(harness, {ALICE: "prescriber", BOB: "therapist"})
    return case_id, harness.root_ts(case_id)


def thread_events(harness, case_id):
    return [e for e in harness.audit_events(case_id=case_id) if e.action.startswith("thread.")]


def test_a_reply_is_kept_encrypted_with_an_audit_event_holding_no_text(harness):
    case_id, root = _started(harness)
    event = reply(root, BOB, "Patient reports nausea since Monday")
    response = harness.event(event, event_id="EvREPLY1")
    assert response.status == 200

    [entry] = harness.rows(ThreadEntry, case_id=case_id)
    assert entry.kind == EntryKind.POSTED and entry.user_id == BOB
    assert entry.message_ts == event["ts"] and entry.thread_ts == root and entry.event_id == "EvREPLY1"
    assert "nausea" not in entry.text_enc
    assert harness.deps.cipher.decrypt(entry.text_enc) == "Patient reports nausea since Monday"

    [audited] = thread_events(harness, case_id)
    assert (audited.action, audited.outcome, audited.source) == ("thread.message_posted", "ok", "thread")
    assert audited.actor == BOB and audited.team_id == "T0CLINIC"
    assert audited.correlation_id == "EvREPLY1" and audited.target == f"message:{event['ts']}"
    details = json.loads(audited.details)
    assert details == {"chars": 35, "entry": entry.id, "files": 0, "on_team": True}
    assert "nausea" not in audited.details


def test_edit_delete_and_file_share_each_recorded(harness):
    case_id, root = _started(harness)
    original = reply(root, BOB, "Dose was 50 mg")
    harness.event(original)
    harness.event(edit(original, "Dose was 75 mg"))
    harness.event(delete({**original, "text": "Dose was 75 mg"}))
    harness.event(file_share(root, ALICE, "Lab results attached", "lithium-level-jane.pdf"))

    rows = harness.rows(ThreadEntry, case_id=case_id)
    assert [r.kind for r in rows] == ["posted", "edited", "deleted", "file_shared"]
    texts = [harness.deps.cipher.decrypt_optional(r.text_enc) for r in rows]
    assert texts == ["Dose was 50 mg", "Dose was 75 mg", "Dose was 75 mg", "Lab results attached"]
    assert {r.message_ts for r in rows[:3]} == {original["ts"]}  # all about the same message
    files = json.loads(harness.deps.cipher.decrypt(rows[3].files_enc))
    assert files[0]["name"] == "lithium-level-jane.pdf" and rows[3].file_count == 1
    assert "lithium" not in rows[3].files_enc

    audited = thread_events(harness, case_id)
    assert [e.action for e in audited] == [
        "thread.message_posted",
        "thread.message_edited",
        "thread.message_deleted",
        "thread.file_shared",
    ]
    assert json.loads(audited[3].details)["files"] == 1
    assert all("lithium" not in e.details and "Dose" not in e.details for e in audited)


def test_a_retried_delivery_is_recorded_once(harness):
    case_id, root = _started(harness)
    event = reply(root, BOB, "Sleeping better")
    # Slack signs each retry afresh when it sends it, at least 3 s (its timeout) after the last.
    now = int(time.time())
    assert harness.event(event, event_id="EvRETRY", timestamp=now - 6).status == 200
    assert harness.event(event, event_id="EvRETRY", retry_num=1, timestamp=now - 3).status == 200
    assert harness.event(event, event_id="EvRETRY", retry_num=2, timestamp=now).status == 200
    assert len(harness.rows(ThreadEntry, case_id=case_id)) == 1
    assert len(thread_events(harness, case_id)) == 1
    # The same edit retried is one edit, too.
    changed = edit(event, "Sleeping much better")
    harness.event(changed, event_id="EvEDIT", timestamp=now - 3)
    harness.event(changed, event_id="EvEDIT", retry_num=1, timestamp=now)
    assert [r.kind for r in harness.rows(ThreadEntry, case_id=case_id)] == ["posted", "edited"]


def test_someone_off_the_team_posting_is_kept_and_flagged(harness):
    case_id, root = _started(harness)
    harness.event(reply(root, MALLORY, "hello"))
    [audited] = thread_events(harness, case_id)
    assert audited.actor == MALLORY and json.loads(audited.details)["on_team"] is False


def test_what_is_not_a_person_in_a_case_thread_is_ignored(harness):
    _, root = _started(harness)
    other_case = care_team(harness, {BOB: "prescriber"}, label="Other")
    other_root = harness.root_ts(other_case)
    ignored = [
        reply(root, BOB, "from another bot", bot_id="B0OTHER"),
        reply(root, BOB, "legacy bot", subtype="bot_message"),
        reply(root, "UBOTCARE1", "our own bot", bot_id="BCARE"),  # Bolt drops our own events
        {"type": "message", "channel": CHANNEL, "user": BOB, "text": "top level", "ts": next_ts()},
        reply("1234.5678", BOB, "some other thread"),
        reply(root, BOB, "elsewhere", channel="C0OTHER"),
        reply(root, BOB, "joined", subtype="channel_join"),
        {"type": "message", "channel": CHANNEL, "user": ALICE, "text": "root", "ts": root, "thread_ts": root},
    ]
    for event in ignored:
        assert harness.event(event).status == 200
    # An unfurl arrives as message_changed with the text unchanged and no `edited`.
    post = reply(root, BOB, "see https://example.org")
    harness.event(post)
    harness.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "message": {**post, "attachments": [{"title": "Example"}]},
            "previous_message": post,
            "ts": next_ts(),
        }
    )
    assert [r.kind for r in harness.rows(ThreadEntry)] == ["posted"]
    assert harness.rows(ThreadEntry, case_id=other_case) == [] and other_root != root


def test_other_workflows_hook_in_through_thread_listener(harness):
    case_id, root = _started(harness)
    seen = []

    def listener(unit, case, entry, activity):
        seen.append((case.id, entry.kind, activity.text))
        unit.audit("test.hooked", case_id=case.id)

    transcript.thread_listener(listener)
    try:
        harness.event(reply(root, BOB, "ping"))
    finally:
        transcript.THREAD_LISTENERS.remove(listener)
    assert seen == [(case_id, "posted", "ping")]
    assert [e.action for e in harness.audit_events(case_id=case_id)][-2:] == [
        "thread.message_posted",
        "test.hooked",
    ]
