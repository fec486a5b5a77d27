"""The inbox across process deaths, with `python app.py` as an operator runs it (gunicorn):
killed (SIGKILL) right after acknowledging a burst, or stopped (SIGTERM) with work in hand,
then started again: every acknowledged request is processed once, each message sent once.
And Socket Mode stopped by SIGTERM with work in hand releases it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.ids import Callback
from devtools import slackreq
from devtools.process import app_env, free_port, start_app, wait_until
from storage.core import OutboxMessage, OutboxStatus
from storage.db import session_scope
from storage.inbox import InboxRequest, InboxStatus
from storage.side_effects import SideEffectReport
from tests.side_effect_helpers import P1, THERAPIST, report_values
from tests.support import SECRET

ROOT = Path(__file__).resolve().parent.parent
BURST = 60


def _env(tmp_path, slack, url: str, **extra: str) -> dict[str, str]:
    return app_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        CARETHREAD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        CARETHREAD_AUDIT_KEY="inbox-process-audit-key-0123",
        CARETHREAD_ACCESS_LOG="0",
        WEB_THREADS="16",
        **extra,
    )


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    return start_app({**env, "PORT": str(port)})  # supervisor, web server and work process: one group


def _post(port: int, request: slackreq.SignedRequest) -> tuple[int, str]:
    http_request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events", data=request.body.encode(), headers=request.headers
    )
    with urllib.request.urlopen(http_request, timeout=10) as response:
        return response.status, response.read().decode()


def _count(engine, query) -> int:
    with session_scope(engine) as session:
        return session.execute(query).scalar_one()


def _pending_inbox(engine) -> int:
    return _count(
        engine,
        select(func.count()).select_from(InboxRequest).where(InboxRequest.status == InboxStatus.PENDING),
    )


def _all_done(engine) -> bool:
    return _pending_inbox(engine) == 0 and _pending_outbox(engine) == 0


def _pending_outbox(engine) -> int:
    return _count(
        engine,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING),
    )


def _seed_case(port: int, slack, engine) -> int:
    for text, user in (
        ("create Blue Heron as therapist", THERAPIST),
        (f"add C-1 <@{P1}> prescriber", THERAPIST),
    ):
        request = slackreq.slash_command(
            SECRET, command="/case", text=text, user=user, response_url=slack.url + "respond/seed"
        )
        assert _post(port, request)[0] == 200
    wait_until(lambda: _all_done(engine), 30, "the case")
    return 1


def _burst(port: int, case_id: int) -> list[tuple[int, str]]:
    """BURST report submissions from 12 threads at once; every answer collected."""
    requests = [
        slackreq.view_submission(
            SECRET,
            user=THERAPIST,
            callback_id=Callback.SIDE_EFFECT_REPORT,
            values=report_values(
                medication="other",
                other_medication="clozapine",
                red_flags=("0",) if n % 10 == 0 else (),  # some urgent: suicidal thoughts
            ),
            private_metadata=json.dumps({"case": case_id}),
        )
        for n in range(BURST)
    ]
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def send(chunk: list[slackreq.SignedRequest]) -> None:
        for request in chunk:
            answer = _post(port, request)
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=send, args=(requests[i::12],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _messages(slack) -> Counter:
    """Every message Slack was asked to show, by its method and full content."""
    sent = Counter()
    for method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"):
        for call in slack.calls_to(method):
            args = {k: v for k, v in call.args.items() if k != "token"}
            sent[(method, json.dumps(args, sort_keys=True))] += 1
    return sent


def test_sigkill_right_after_acking_a_burst_loses_nothing(tmp_path, slack, db_url_and_engine):
    url, engine = db_url_and_engine
    env = _env(tmp_path, slack, url, CARETHREAD_LEASE_SECONDS="3", CARETHREAD_WORK_THREADS="2")
    port = free_port()
    process = _start(env, port)
    try:
        case_id = _seed_case(port, slack, engine)
        # One worker waits on Slack to open a form until after the kill, so at least that
        # request is certainly in flight, not done, when the process dies; the other works
        # off the burst meanwhile.
        slack.hold("views.open")
        opener = slackreq.slash_command(
            SECRET, command="/case", text="create", user=THERAPIST, response_url=slack.url + "respond/form"
        )
        assert _post(port, opener)[0] == 200
        answers = _burst(port, case_id)
        os.killpg(process.pid, signal.SIGKILL)  # the moment the last 200 is back
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        slack.release("views.open")
    assert [status for status, _ in answers] == [200] * BURST
    not_done = _pending_inbox(engine)
    assert not_done >= 1  # the restart below has work left to do, not only to find done
    with session_scope(engine) as session:
        # Messages whose Slack call may have been in flight at the kill: sent at least once.
        in_flight = session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.lease_until.is_not(None))
        ).scalar_one()
        inbox_rows = session.execute(select(func.count()).select_from(InboxRequest)).scalar_one()
    assert inbox_rows == BURST + 3  # every acknowledged request was saved before its 200

    process = _start(env, port)
    try:
        wait_until(lambda: _all_done(engine), 60, "the restart's work")
        time.sleep(1.5)  # anything processed or sent twice would show now
    finally:
        process.terminate()
        process.wait(timeout=30)
    with session_scope(engine) as session:
        reports = session.execute(select(SideEffectReport.id)).scalars().all()
        statuses = Counter(session.execute(select(InboxRequest.status)).scalars())
        sent_rows = session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)
        ).scalar_one()
    assert len(reports) == BURST  # each acknowledged submission acted once
    assert statuses == Counter({InboxStatus.DONE: BURST + 3})
    sent = _messages(slack)
    calls = sum(sent.values())
    assert sent_rows <= calls <= sent_rows + in_flight, (sent_rows, calls, in_flight)


def test_sigterm_releases_every_claim_so_another_process_takes_them_at_once(
    tmp_path, slack, db_url_and_engine
):
    url, engine = db_url_and_engine
    # One slow worker and a long lease: only a release lets the next process start at once.
    env = _env(tmp_path, slack, url, CARETHREAD_WORK_THREADS="1", CARETHREAD_LEASE_SECONDS="600")
    port = free_port()
    process = _start(env, port)
    try:
        case_id = _seed_case(port, slack, engine)
        # Slack is slow to open a form: the one worker waits on it while the burst queues up.
        slack.hold("views.open")
        opener = slackreq.slash_command(
            SECRET, command="/case", text="create", user=THERAPIST, response_url=slack.url + "respond/form"
        )
        assert _post(port, opener)[0] == 200
        answers = _burst(port, case_id)
        # A badly signed request with clinical text, for the log check below.
        forged = slackreq.slash_command(
            "not-the-secret", command="/case", text="clozapine 300 mg", user=THERAPIST
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(port, forged)
        assert refused.value.code == 401
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        slack.release("views.open")
    stderr = process.stderr.read() if process.stderr else ""
    assert [status for status, _ in answers] == [200] * BURST
    assert "clozapine" not in stderr and "300 mg" not in stderr
    released = re.search(r"released (\d+) request", stderr)
    assert released and int(released.group(1)) > 0, stderr[-2000:]  # it did hold work when stopped
    with session_scope(engine) as session:
        held = session.execute(
            select(func.count())
            .select_from(InboxRequest)
            .where(InboxRequest.status == InboxStatus.PENDING, InboxRequest.owner.is_not(None))
        ).scalar_one()
        leased = session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.lease_until.is_not(None))
        ).scalar_one()
    assert (held, leased) == (0, 0)  # nothing waits for a lease that would last ten minutes

    process = _start(env, port)
    try:
        wait_until(lambda: _all_done(engine), 60, "the other process")
    finally:
        process.terminate()
        process.wait(timeout=30)
    with session_scope(engine) as session:
        assert len(session.execute(select(SideEffectReport.id)).scalars().all()) == BURST


# `python app.py` in Socket Mode, but the connection to Slack is a stand-in: connect()
# delivers requests the way the Socket Mode client does (parsed payloads, no signature), and
# start(), the library's own, would then wait in its bare Event().wait() as with a real socket.
SOCKET_MODE_CHILD = """
import sys
from urllib.parse import parse_qsl

import slack_bolt.adapter.socket_mode as socket_mode
from slack_bolt.request import BoltRequest

from devtools import slackreq


class Delivering(socket_mode.SocketModeHandler):
    def connect(self):
        for text in sys.argv[1:]:
            command = slackreq.slash_command(
                "unused", command="/case", text=text, user=sys.argv[0], response_url=RESPOND
            )
            body = dict(parse_qsl(command.body))
            self.app.dispatch(BoltRequest(body=body, mode="socket_mode"))

    def close(self):
        super().close()
        print("closed", flush=True)


socket_mode.SocketModeHandler = Delivering
import app

sys.exit(app.main())
"""


def _held_inbox(engine) -> int:
    return _count(
        engine,
        select(func.count())
        .select_from(InboxRequest)
        .where(InboxRequest.status == InboxStatus.PENDING, InboxRequest.owner.is_not(None)),
    )


def test_sigterm_in_socket_mode_releases_every_claim(tmp_path, slack, db_url_and_engine):
    """SocketModeHandler.start() installs no SIGTERM handler: SIGTERM ended the process in
    its wait, and the requests it had claimed waited out their ten-minute lease."""
    url, engine = db_url_and_engine
    env = _env(
        tmp_path,
        slack,
        url,
        SLACK_APP_TOKEN="xapp-test",
        CARETHREAD_WORK_THREADS="1",
        CARETHREAD_LEASE_SECONDS="600",
    )
    # The one worker waits on Slack to open a form; the five commands after it stay queued.
    texts = ["create"] + [f"create Heron {n}" for n in range(5)]
    script = SOCKET_MODE_CHILD.replace("RESPOND", repr(slack.url + "respond/socket"))
    slack.hold("views.open")
    process = subprocess.Popen(
        [sys.executable, "-c", script, THERAPIST, *texts],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def claimed() -> bool:
            assert process.poll() is None, process.communicate()[1][-2000:]
            try:
                return _held_inbox(engine) == len(texts)
            except SQLAlchemyError:  # not migrated yet
                return False

        wait_until(claimed, 60, "the requests claimed in Socket Mode")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        slack.release("views.open")
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)
    assert process.returncode == 0, stderr[-2000:]
    assert "closed" in stdout  # the connection was closed before the rest stopped
    released = re.search(r"released (\d+) request", stderr)
    assert released and int(released.group(1)) >= len(texts) - 1, stderr[-2000:]
    assert _held_inbox(engine) == 0  # another replica takes them now, not in ten minutes
