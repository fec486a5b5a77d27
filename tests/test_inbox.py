"""The request path: every accepted request is in the inbox before its 200, acts once,
replays are refused, the edge answers bad bodies with a 4xx and logs none of them, the
queue is bounded, and replies through response_url are retried."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.delivery import RESPONSE_URL
from bot.doorbell import Doorbell
from bot.group_insert import SAVE_SECONDS
from bot.ids import Action, Callback
from bot.inbox import NOT_SAVED, SAVED_LATE
from bot.logsafe import NoExceptionText
from bot.scheduler import run_sweep
from devtools import slackreq
from storage.cases import Case
from storage.core import OutboxStatus
from storage.inbox import InboxRequest, InboxStatus
from storage.side_effects import SideEffectReport
from tests.holding import POSTGRES_HOLDER, SQLITE_HOLDERS, holding
from tests.side_effect_helpers import MEDS, TEAM, THERAPIST, report_values, submit_report
from tests.support import ALICE, SECRET, Harness, care_team, make_settings, reply_text


def _raw(h: Harness, body: bytes, headers: dict[str, str], *, length: str | None = None) -> int:
    """POST raw bytes to the Slack endpoint; `length` overrides Content-Length ("" = none,
    as with a chunked upload)."""
    environ = slackreq.wsgi_environ("POST", "/slack/events", body, headers, length=length)
    status: dict[str, int] = {}

    def start_response(line: str, _headers: list, exc_info: Any = None) -> None:
        status["code"] = int(line.split()[0])

    b"".join(h.wsgi(environ, start_response))
    return status["code"]


def _signed_bytes(body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    import hashlib
    import hmac

    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def _form(payload: dict[str, Any]) -> bytes:
    """An interactivity body: `payload=` and the payload's JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


# -- the inbox ------------------------------------------------------------------------------


def test_a_command_is_saved_encrypted_then_processed_and_its_body_dropped(harness):
    response = harness.command(ALICE, "create Blue Heron clozapine")
    assert response.status == 200 and response.body == ""
    [row] = harness.rows(InboxRequest)
    assert (row.kind, row.listener, row.status) == ("command", "cases.command", InboxStatus.DONE)
    assert row.body_enc is None and row.owner is None and len(row.signature_hash) == 64
    assert [c.id for c in harness.rows(Case)] == [1]
    # The reply went through the outbox to the command's response_url.
    replies = harness.outbox(method=RESPONSE_URL, replies=True)
    assert [r.status for r in replies] == [OutboxStatus.SENT]
    assert "C-1" in harness.last_reply_text()


def test_a_saved_request_is_stored_encrypted_while_it_waits(harness):
    harness.deps.inbox.stop()  # nobody works: the request waits in the inbox
    response = harness.command(ALICE, "create Blue Heron clozapine", settle=False)
    assert response.status == 200 and json.loads(response.body)["text"] == SAVED_LATE
    [row] = harness.rows(InboxRequest)
    assert row.status == InboxStatus.PENDING and row.owner is None
    assert "clozapine" not in row.body_enc and "Heron" not in row.body_enc
    assert "clozapine" in harness.deps.cipher.decrypt(row.body_enc)
    assert [c.id for c in harness.rows(Case)] == []
    # A process with room (here: this one, restarted) claims it and does the work once.
    harness.deps.inbox.start(harness.deps)
    harness.settle()
    assert [c.id for c in harness.rows(Case)] == [1]
    assert harness.rows(InboxRequest)[0].status == InboxStatus.DONE


def test_a_replayed_request_is_refused_and_audited_and_acts_once(harness):
    request = slackreq.slash_command(
        SECRET,
        command="/case",
        text="create Blue Heron",
        user=ALICE,
        response_url=harness.slack.url + "respond/r",
    )
    assert harness.send(request).status == 200
    assert harness.send(request).status == 401
    assert harness.send(request).status == 401
    assert [c.id for c in harness.rows(Case)] == [1] and len(harness.rows(InboxRequest)) == 1
    refused = harness.audit_events(action="request.replayed")
    assert len(refused) == 2 and {e.outcome for e in refused} == {"denied"}
    assert refused[0].actor == ALICE and "Heron" not in refused[0].details


def test_a_replay_that_claims_to_be_slacks_retry_is_refused_too(harness):
    """X-Slack-Retry-Num is not signed: anyone replaying a captured event can add it. Slack's
    own retries are signed afresh, so they never collide on the signature."""
    event = {"type": "app_home_opened", "user": ALICE, "tab": "home"}
    request = slackreq.event_callback(SECRET, event)
    assert harness.send(request).status == 200
    replayed = slackreq.SignedRequest(
        request.body, {**request.headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert harness.send(replayed).status == 401
    assert len(harness.rows(InboxRequest)) == 1 and len(harness.slack.calls_to("views.publish")) == 1
    [refused] = harness.audit_events(action="request.replayed")
    assert refused.outcome == "denied" and refused.actor == ALICE


def test_a_replayed_modal_submission_creates_one_report(harness):
    case_id = care_team(harness, TEAM, meds=MEDS)
    request = slackreq.view_submission(
        SECRET,
        user=THERAPIST,
        callback_id=Callback.SIDE_EFFECT_REPORT,
        values=report_values(medication="other", other_medication="lithium"),
        private_metadata=json.dumps({"case": case_id}),
    )
    assert harness.send(request).status == 200
    assert harness.send(request).status == 401
    assert len(harness.rows(SideEffectReport)) == 1


def test_a_worker_that_lost_its_lease_does_not_act_twice(harness):
    """Two workers on one row (the first one's lease ran out): the state changes once."""
    harness.deps.inbox.stop()
    harness.command(ALICE, "create Blue Heron", settle=False)
    [row] = harness.rows(InboxRequest)
    inbox = harness.deps.inbox
    inbox._process(row.id)  # one worker
    inbox._process(row.id)  # another, later: the row is done, nothing happens
    assert [c.id for c in harness.rows(Case)] == [1]


# -- the person is told when nothing could be saved ------------------------------------------


def test_requests_are_refused_with_a_message_when_the_inbox_cannot_be_written(harness):
    """The database refuses the write (here: the inbox table is gone): a command gets the
    'couldn't save' text in its ack, a modal keeps its form open with the message on a
    field, an event gets a 503 so Slack retries it. Nothing is acknowledged as accepted."""
    case_id = care_team(harness, TEAM, meds=MEDS)
    with harness.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE inbox RENAME TO inbox_away")
    try:
        response = harness.command(THERAPIST, "show C-1", settle=False)
        assert response.status == 200 and json.loads(response.body)["text"] == NOT_SAVED
        submitted = submit_report(harness, THERAPIST, case_id, medication="other", other_medication="lithium")
        answer = json.loads(submitted.body)
        assert answer["response_action"] == "errors" and NOT_SAVED in answer["errors"].values()
        event = harness.event({"type": "app_home_opened", "user": ALICE, "tab": "home"})
        assert event.status == 503
    finally:
        with harness.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE inbox_away RENAME TO inbox")
    assert len(harness.rows(SideEffectReport)) == 0


@pytest.mark.parametrize("how", SQLITE_HOLDERS)
def test_a_locked_sqlite_database_is_answered_in_time_and_nothing_saved_after(harness, how):
    """Another writer keeps SQLite's lock (and/or the writer-lock file, or this process's
    writer turn) longer than Slack waits: the command is told it was not saved within
    SAVE_SECONDS (not after the 30 s the workers would wait), and once the lock is let go
    the request is not saved after all, nor worked on."""
    if harness.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    _locked_inbox_answered_in_time(harness, how)


def test_a_locked_postgres_inbox_is_answered_in_time_and_nothing_saved_after(harness):
    """A transaction elsewhere holds a lock the inbox insert needs: lock_timeout and
    statement_timeout end the insert by the deadline, and nothing is saved after."""
    if harness.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    _locked_inbox_answered_in_time(harness, POSTGRES_HOLDER)


def _locked_inbox_answered_in_time(h: Harness, how: str) -> None:
    case_id = care_team(h, TEAM, meds=MEDS)
    h.settle()
    saved, viewed = len(h.rows(InboxRequest)), len(h.audit_events(action="case.viewed"))
    with holding(h.engine, how):  # held for HOLD_SECONDS at most, well past the deadline
        started = time.monotonic()
        response = h.command(THERAPIST, f"show C-{case_id}", settle=False)
        answered = time.monotonic() - started
    h.settle()  # the lock is let go: a save still under way would commit now
    assert response.status == 200 and json.loads(response.body)["text"] == NOT_SAVED
    assert answered < SAVE_SECONDS + 1.5, answered  # margin for a loaded CI machine
    assert len(h.rows(InboxRequest)) == saved
    assert len(h.audit_events(action="case.viewed")) == viewed
    assert not _shown(h.slack)


def test_a_click_or_a_form_that_cannot_be_saved_is_never_acknowledged_as_saved(harness):
    """A button's ack carries no message: it is told through its response_url. A button in
    a modal has none, and a modal with no input block has no field to show the message on:
    they get a 503, so Slack shows an error on the button or the modal."""
    no_input = "tests_no_input"
    harness.app.view(no_input)(harness.deps.inbox.listener("tests.no_input", lambda _deps, _body: None))
    with harness.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE inbox RENAME TO inbox_away")
    try:
        click = slackreq.block_action(
            SECRET,
            user=ALICE,
            action_id=Action.VIEW_DETAILS,
            value="1",
            response_url=harness.slack.url + "respond/lost",
        )
        answer = harness.send(click, settle=False)
        assert (answer.status, answer.body) == (200, "")
        in_modal = slackreq.block_action(
            SECRET, user=ALICE, action_id=Action.VIEW_DETAILS, value="1", view={"id": "V1"}, response_url=None
        )
        assert harness.send(in_modal, settle=False).status == 503
        form = slackreq.view_submission(SECRET, user=ALICE, callback_id=no_input, values={})
        assert harness.send(form, settle=False).status == 503
        assert harness.deps.inbox.notices.wait_idle(10)
    finally:
        with harness.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE inbox_away RENAME TO inbox")
    [told] = harness.slack.calls_to("response_url")
    assert told.args["token"] == "lost" and told.args["text"] == NOT_SAVED
    assert (told.args["response_type"], told.args["replace_original"]) == ("ephemeral", False)
    assert harness.rows(InboxRequest) == []


# -- backpressure and forms first ----------------------------------------------------------


@contextlib.contextmanager
def _one_worker_held(make_harness, slack, **env: str):
    """A harness whose one inbox worker waits on Slack to open a form (Slack is slow), so
    what is sent next stays queued; released and closed on the way out."""
    h = make_harness(CARETHREAD_WORK_THREADS="1", **env)
    try:
        h.command(ALICE, "create Blue Heron")
        slack.hold("views.open")
        h.command(ALICE, "create", settle=False)
        _wait_busy(h)
        yield h
    finally:
        for method in list(slack.held):  # whatever the test still holds, so closing cannot wait on it
            slack.release(method)
        h.close()


def test_beyond_the_queue_bound_requests_are_saved_and_the_person_told_it_may_be_late(make_harness, slack):
    with _one_worker_held(make_harness, slack, CARETHREAD_INBOX_QUEUE="2") as h:
        answers = [h.command(ALICE, "list", settle=False) for _ in range(4)]
        texts = [a.body and json.loads(a.body)["text"] for a in answers]
        assert texts == ["", "", SAVED_LATE, SAVED_LATE]
        slack.release("views.open")
        h.settle()
        assert h.deps.inbox.wait_idle(10)
        h.settle()
        assert [r.status for r in h.rows(InboxRequest)] == [InboxStatus.DONE] * 6
        listings = [c for c in slack.calls_to("response_url") if "created" not in reply_text(c.args)]
        assert len(listings) == 4  # every one answered, late or not


def test_beyond_the_queue_bound_a_click_is_saved_and_the_person_told_through_its_response_url(
    make_harness, slack
):
    """A button's ack can carry no message: the notice goes through the click's response_url,
    and the ack does not wait for it (here Slack holds every response_url call)."""
    with _one_worker_held(make_harness, slack, CARETHREAD_INBOX_QUEUE="2") as h:
        slack.hold("response_url")
        answers, slowest = [], 0.0
        for n in range(4):
            click = slackreq.block_action(
                SECRET,
                user=ALICE,
                action_id=Action.VIEW_DETAILS,
                value="1",
                response_url=slack.url + f"respond/click{n}",
            )
            started = time.monotonic()
            answers.append(h.send(click, settle=False))
            slowest = max(slowest, time.monotonic() - started)
        assert [(a.status, a.body) for a in answers] == [(200, "")] * 4
        assert slowest < 5  # a held response_url call waits 30 s
        slack.release("response_url")
        assert h.deps.inbox.notices.wait_idle(10)
        told = [c.args for c in slack.calls_to("response_url") if c.args.get("text") == SAVED_LATE]
        assert sorted(t["token"] for t in told) == ["click2", "click3"]
        assert {(t["response_type"], t["replace_original"]) for t in told} == {("ephemeral", False)}
        slack.release("views.open")
        h.settle()
        assert h.deps.inbox.wait_idle(10)
        h.settle()
        assert [r.status for r in h.rows(InboxRequest)] == [InboxStatus.DONE] * 6


def test_a_request_that_opens_a_form_jumps_the_queue(make_harness, slack):
    """A modal's trigger_id lasts 3 s: a request that opens one goes before those queued."""
    with _one_worker_held(make_harness, slack) as h:
        for _ in range(3):
            h.command(ALICE, "show C-1", settle=False)
        h.command(ALICE, "create", settle=False)  # another form, behind three queued requests
        slack.release("views.open")
        h.settle()
        opened_or_viewed = ("case.create_form_opened", "case.viewed")
        order = [e.action for e in h.audit_events() if e.action in opened_or_viewed]
        assert order == ["case.create_form_opened"] * 2 + ["case.viewed"] * 3


def _wait_busy(h: Harness) -> None:
    deadline = time.monotonic() + 5
    while not h.deps.inbox._busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert h.deps.inbox._busy, "the worker never started"


# -- replies through response_url ----------------------------------------------------------


def test_a_reply_is_retried_when_slack_fails_after_the_commit(harness):
    harness.slack.fail("response_url", status=503, error="unavailable", times=2)
    harness.command(ALICE, "create Blue Heron")
    assert [c.id for c in harness.rows(Case)] == [1] and not harness.replies()
    for _ in range(3):
        harness.clock.advance(timedelta(seconds=10))
        run_sweep(harness.deps)
    assert len(harness.replies()) == 1 and "C-1" in harness.last_reply_text()


def test_a_reply_goes_by_dm_once_its_response_url_has_expired(harness):
    harness.slack.fail("response_url", status=503, error="unavailable", times=1000)
    harness.command(ALICE, "create Blue Heron")
    harness.clock.advance(timedelta(minutes=31))
    run_sweep(harness.deps)
    run_sweep(harness.deps)
    dms = [p for p in harness.posts(ALICE)]
    assert len(dms) == 1 and "C-1" in reply_text(dms[0])
    assert harness.audit_events(action="message.reply_by_dm")


def test_a_request_worked_on_after_its_response_url_expired_is_answered_by_dm(harness):
    """The 30 minutes count from when the request reached us, not from when its reply was
    queued: a request that waited in the inbox (workers down, the database away) past them
    is answered by DM, without trying the dead URL first."""
    harness.deps.inbox.stop()
    harness.command(ALICE, "create Blue Heron", settle=False)
    [row] = harness.rows(InboxRequest)
    harness.clock.advance(timedelta(minutes=31))
    harness.deps.inbox._process(row.id)
    assert harness.deps.relay.wait_idle(10)
    assert harness.slack.calls_to("response_url") == []
    dms = harness.posts(ALICE)
    assert len(dms) == 1 and "C-1" in reply_text(dms[0])
    [moved] = harness.audit_events(action="message.reply_by_dm")
    assert json.loads(moved.details)["why"] == "expired"


def test_a_used_up_response_url_falls_back_to_a_dm(harness):
    harness.slack.fail("response_url", status=404, error="expired_url", times=1)
    harness.command(ALICE, "create Blue Heron")
    dms = harness.posts(ALICE)
    assert len(dms) == 1 and "C-1" in reply_text(dms[0]) and not harness.replies()


# -- the edge ------------------------------------------------------------------------------


def test_oversized_bodies_get_413_before_they_are_read(harness):
    class Unreadable(io.BytesIO):
        def read(self, *args):  # the edge must not read a body it refuses
            raise AssertionError("read an oversized body")

    environ_body = b"x"
    headers = _signed_bytes(environ_body)
    status: dict[str, int] = {}
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_LENGTH": str(20 * 1024 * 1024),
        "wsgi.input": Unreadable(),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "Content-Type"},
    }
    harness.wsgi(environ, lambda line, _h, _e=None: status.setdefault("code", int(line.split()[0])))
    assert status["code"] == 413
    # Without a Content-Length (chunked), reading stops just past the limit.
    big = b"a=" + b"x" * (1024 * 1024)
    assert _raw(harness, big, _signed_bytes(big), length="") == 413
    assert harness.rows(InboxRequest) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"type": "event_callback", "event": ', "application/json"),  # cut-off JSON
        (b"[1, 2, 3]", "application/json"),  # JSON, but not an object
        (b"payload=%7B%22type%22%3A%22block_act", "application/x-www-form-urlencoded"),  # cut-off payload
        (b"command=%2Fcase&text=\xff\xfe", "application/x-www-form-urlencoded"),  # bad UTF-8
        (b"payload=%FF%FE", "application/x-www-form-urlencoded"),  # bad UTF-8 inside the payload
        # Parsed, but not shaped as Bolt's listeners read them (they raised: a 500).
        (_form({"type": "view_submission", "view": "x"}), "application/x-www-form-urlencoded"),
        (_form({"type": "view_submission"}), "application/x-www-form-urlencoded"),
        (_form({"type": "view_submission", "view": {"callback_id": 5}}), "application/x-www-form-urlencoded"),
        (_form({"type": "view_closed", "view": "x"}), "application/x-www-form-urlencoded"),
        (_form({"type": "block_actions", "actions": "x"}), "application/x-www-form-urlencoded"),
        (_form({"type": "block_actions", "actions": []}), "application/x-www-form-urlencoded"),
        (_form({"type": "block_actions", "actions": [{}]}), "application/x-www-form-urlencoded"),
        (_form({"type": "block_suggestion", "action_id": 5}), "application/x-www-form-urlencoded"),
        (b"command=case&text=create", "application/x-www-form-urlencoded"),  # no "/"
        (b'{"command": 5}', "application/json"),
        (b'{"type": "event_callback", "event": "x"}', "application/json"),
        (b'{"type": "event_callback", "event": {"type": "message", "channel": 5}}', "application/json"),
        (b'{"type": "event_callback", "event": {"type": "x"}, "authorizations": "x"}', "application/json"),
        (b'{"type": "url_verification", "challenge": 5}', "application/json"),
    ],
)
def test_malformed_bodies_get_400_when_signed_and_401_when_not(harness, body, content_type):
    headers = {**_signed_bytes(body), "Content-Type": content_type}
    assert _raw(harness, body, headers) == 400
    assert _raw(harness, body, {"Content-Type": content_type}) == 401
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert _raw(harness, body, forged) == 401
    assert _raw(harness, body, {**headers, "X-Slack-Request-Timestamp": "soon"}) == 401
    assert harness.rows(InboxRequest) == []


def test_no_part_of_a_refused_body_reaches_the_log(harness, caplog):
    caplog.set_level(logging.DEBUG)
    body = urlencode({"command": "/case", "text": "create Blue Heron on clozapine 300 mg", "user_id": ALICE})
    raw = body.encode()
    # Badly signed, signed but 400 s old, unsigned and huge, signed garbage.
    assert _raw(harness, raw, {**_signed_bytes(raw), "X-Slack-Signature": "v0=bad"}) == 401
    assert _raw(harness, raw, _signed_bytes(raw, timestamp=int(time.time()) - 400)) == 401
    huge = b"clozapine " * 200_000
    assert _raw(harness, huge, {"Content-Type": "text/plain"}) == 413
    garbage = b"payload=" + b"clozapine{"
    assert _raw(harness, garbage, _signed_bytes(garbage)) == 400
    misshapen = _form({"type": "block_actions", "actions": [{"value": "clozapine"}], "user": "Heron"})
    assert _raw(harness, misshapen, _signed_bytes(misshapen)) == 400
    # A body the server cannot read: gunicorn's chunked reader raises quoting the bytes.
    environ = slackreq.wsgi_environ("POST", "/slack/events", b"", _signed_bytes(b""), length="")
    environ["wsgi.input"] = _Unreadable(b"Invalid chunk size: b'clozapine 400mg'")
    status: dict[str, int] = {}
    b"".join(harness.wsgi(environ, lambda line, _h, _e=None: status.setdefault("code", int(line.split()[0]))))
    assert status["code"] == 400
    # Bolt itself: a request no listener handles.
    unhandled = slackreq.block_action(SECRET, user=ALICE, action_id="no_such_button", value="clozapine")
    assert harness.send(unhandled).status in (200, 404)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "clozapine" not in logged and "Heron" not in logged


class _Unreadable(io.BytesIO):
    def __init__(self, error: bytes) -> None:
        super().__init__()
        self.error = error

    def read(self, *args: Any) -> bytes:
        raise ValueError(self.error)


def test_tracebacks_keep_their_types_and_frames_but_not_their_messages(harness, caplog):
    """An exception's message can quote what a request carried: Bolt's error handlers put it
    in their line, and every traceback ends with it. Our own line (the ref) is kept."""
    clinical = "clozapine " + "300 mg"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # as app.py's on the root logger
    handler.addFilter(NoExceptionText())
    ours = logging.getLogger("tests.edge")
    ours.addHandler(handler)
    try:
        try:
            raise KeyError(clinical)
        except KeyError as exc:
            raise ValueError(clinical) from exc
    except ValueError as error:
        ours.exception("unhandled error in %s (ref %s)", "cases.command", "ab12cd34")
        logging.getLogger("slack_bolt").exception(f"Failed to run listener function (error: {error})")
    finally:
        ours.removeHandler(handler)
    for text in (stream.getvalue(), caplog.text):
        assert "clozapine" not in text
        assert "Traceback (most recent call last)" in text and "test_inbox.py" in text
        assert "KeyError (message not logged)" in text and "ValueError (message not logged)" in text
    assert "unhandled error in cases.command (ref ab12cd34)" in stream.getvalue()
    assert "Failed to run listener function (error message not logged)" in caplog.text


def test_a_database_or_connection_error_keeps_the_message_an_operator_needs(caplog):
    import sqlite3

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(NoExceptionText())
    ours = logging.getLogger("tests.edge")
    ours.addHandler(handler)
    try:
        for error in (sqlite3.OperationalError("database is locked"), ConnectionRefusedError(111, "refused")):
            try:
                raise error
            except Exception:
                ours.exception("the inbox could not be written")
    finally:
        ours.removeHandler(handler)
    said = stream.getvalue()
    assert "sqlite3.OperationalError: database is locked" in said
    assert "ConnectionRefusedError: [Errno 111] refused" in said


# -- PostgreSQL refusing connections ---------------------------------------------------------


class _Proxy:
    """A TCP hop between the app and PostgreSQL that can be cut: while cut, new connections
    are refused and open ones dropped, as when the database goes away."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.conns: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.open = False
        with self._lock:
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.close()
            self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_postgres_refusing_connections_tells_the_person_and_loses_nothing_acknowledged(
    tmp_path, slack, clock, db_url_and_engine
):
    from sqlalchemy.engine import make_url

    from storage.db import make_engine

    url, engine = db_url_and_engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    proxy = _Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    via_proxy = make_engine(
        parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    h = Harness(make_settings(tmp_path, slack), via_proxy, slack, clock)
    try:
        case_id = care_team(h, TEAM, meds=MEDS)
        # Saved, then the database goes away before a worker could take it.
        h.deps.inbox.stop()
        assert h.command(THERAPIST, f"show C-{case_id}", settle=False).status == 200
        proxy.cut()
        response = h.command(THERAPIST, f"show C-{case_id}", settle=False)
        assert response.status == 200 and json.loads(response.body)["text"] == NOT_SAVED
        submitted = submit_report(h, THERAPIST, case_id, medication="other", other_medication="clozapine")
        answer = json.loads(submitted.body)
        assert answer["response_action"] == "errors" and NOT_SAVED in answer["errors"].values()
        assert h.event({"type": "app_home_opened", "user": THERAPIST, "tab": "home"}).status == 503
        h.deps.inbox.start(h.deps)  # workers cannot claim anything while the database is away
        time.sleep(0.5)
        proxy.restore()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any("C-1" in reply_text(c.args) for c in _shown(slack)):
            time.sleep(0.2)
        h.settle()
        assert len(_shown(slack)) == 1  # the acknowledged one, once; the refused one never
        assert len(h.rows(SideEffectReport)) == 0
        assert [r.status for r in h.rows(InboxRequest)][-1:] == [InboxStatus.DONE]
    finally:
        h.close()
        proxy.close()
        via_proxy.dispose()


def _shown(slack) -> list:
    return [
        c
        for c in slack.calls_to("response_url")
        if "Blue Heron" in reply_text(c.args) and "created" not in reply_text(c.args)
    ]


def test_a_web_process_saves_rings_and_leaves_the_work_to_the_work_process(make_harness, slack, monkeypatch):
    """HTTP mode's web server (bot/processes.py): it saves and acknowledges, rings the
    doorbell, and tells the person the reply may be late only once more requests are pending
    than a work queue holds; the work process, woken by the ring, does them all."""
    monkeypatch.setattr("bot.inbox.BEHIND_CHECK_SECONDS", 0.0)  # count at every request here
    h = make_harness(CARETHREAD_INBOX_QUEUE="2")
    bell = Doorbell()
    try:
        h.command(ALICE, "create Blue Heron")
        h.deps.inbox.stop()  # from here on this process is a web process
        h.deps.inbox.hand_over(bell)
        answers = [h.command(ALICE, "show C-1", settle=False) for _ in range(4)]
        texts = [a.body and json.loads(a.body)["text"] for a in answers]
        assert texts == ["", "", SAVED_LATE, SAVED_LATE]  # 1, 2, then 3 and 4 pending
        assert [r.owner for r in h.rows(InboxRequest, status=InboxStatus.PENDING)] == [None] * 4
        assert bell.wait(0) is True
        bell.ring()
        h.deps.inbox.start(h.deps, doorbell=bell)  # the work process
        assert h.deps.inbox.wait_idle(10)
        h.settle()
        assert [r.status for r in h.rows(InboxRequest)] == [InboxStatus.DONE] * 5
        assert len(h.audit_events(action="case.viewed")) == 4
    finally:
        h.close()
        bell.close()
