"""Two real app processes (HTTP mode, gunicorn) on one PostgreSQL database, driven with
signed requests split between them: every outcome happens exactly once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from bot import auditlog
from devtools import slackreq
from devtools.process import app_env, free_port, wait_healthy
from storage.audit import ThreadEntry
from storage.cases import Case
from storage.core import AuditEvent, OutboxMessage, OutboxStatus
from storage.db import make_engine, session_scope
from storage.reviews import Review, ReviewSchedule
from tests.support import SECRET, TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
ROOT = Path(__file__).resolve().parent.parent
AUDIT_KEY = "replica-audit-key-0123456789"


@pytest.fixture
def pg_schema_url():
    schema = f"r_{uuid.uuid4().hex[:12]}"
    url = TEST_DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}", schema
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _post(port: int, request: slackreq.SignedRequest) -> int:
    http_request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events", data=request.body.encode(), headers=request.headers
    )
    with urllib.request.urlopen(http_request, timeout=10) as response:
        return response.status


def _card_ts(engine, case_id: int) -> str:
    with session_scope(engine) as session:
        case = session.get(Case, case_id)
        return session.get(OutboxMessage, case.card_outbox_id).result_ts


def _entries(engine) -> list:
    with session_scope(engine) as session:
        return list(session.execute(select(ThreadEntry.id)).all())


def test_two_replicas_on_one_postgres_do_everything_exactly_once(tmp_path, slack, pg_schema_url):
    url, _schema = pg_schema_url
    env = app_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        CARETHREAD_SWEEP_SECONDS="1",
        CARETHREAD_ACCESS_LOG="0",
        CARETHREAD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        CARETHREAD_AUDIT_KEY=AUDIT_KEY,
    )
    ports = [free_port(), free_port()]
    # Both start at once on an empty database, as a deploy would: migrations take turns.
    replicas = [_start(env, port) for port in ports]
    try:
        for port, process in zip(ports, replicas, strict=True):
            wait_healthy(port, process)

        # 40 cases created concurrently, alternating between the replicas.
        total = 40
        errors: list[BaseException] = []

        def create(i: int) -> None:
            try:
                request = slackreq.slash_command(
                    SECRET,
                    command="/case",
                    text=f"create Replica {i}",
                    user=f"U0USER{i:02d}",
                    response_url=f"{slack.url}respond/{i}",
                )
                assert _post(ports[i % 2], request) == 200
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(total)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        slack.wait_for("chat.postMessage", total, timeout=60)
        slack.wait_for("response_url", total, timeout=60)
        time.sleep(2.5)  # two more sweeps on each replica: anything sent twice would show up now

        cards = Counter(c.args["text"] for c in slack.calls_to("chat.postMessage"))
        assert cards == Counter({f"Case C-{n} care-team thread": 1 for n in range(1, total + 1)})

        engine = make_engine(url)
        try:
            with session_scope(engine) as session:
                ids = session.execute(select(Case.id).order_by(Case.id)).scalars().all()
                assert ids == list(range(1, total + 1))
                statuses = Counter(session.execute(select(OutboxMessage.status)).scalars())
                assert statuses[OutboxStatus.SENT] >= total and statuses[OutboxStatus.PENDING] == 0
                seqs = session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars().all()
                assert seqs == list(range(1, len(seqs) + 1))  # one chain, no gaps, no forks
                result = auditlog.verify(session, AUDIT_KEY.encode())
                assert result.ok, result
                created = (
                    session.execute(select(AuditEvent.case_id).where(AuditEvent.action == "case.created"))
                    .scalars()
                    .all()
                )
                assert sorted(created) == ids

            # Due work: every case's review made due while "the app was down"; both replicas
            # sweep every second. Each prompt must be posted once, however the sweeps interleave.
            with session_scope(engine) as session:
                past = datetime.now(UTC) - timedelta(hours=3)
                session.execute(update(ReviewSchedule).values(next_due_at=past))
            prompts = slack.wait_for("chat.postMessage", total * 2, timeout=60)
            time.sleep(3)  # three more sweeps on each replica
            prompts = [
                c.args["text"]
                for c in slack.calls_to("chat.postMessage")
                if c.args["text"].startswith("Case review due on")
            ]
            assert Counter(prompts) == Counter({f"Case review due on C-{n}": 1 for n in range(1, total + 1)})
            with session_scope(engine) as session:
                assert len(session.execute(select(Review.id)).all()) == total

            # One Slack event, retried to the other replica: recorded once.
            root_ts = _card_ts(engine, 1)
            event = {
                "type": "message",
                "channel": "C0CARE",
                "user": "U0USER01",
                "text": "seen her today",
                "ts": "1800000000.000100",
                "thread_ts": root_ts,
                "channel_type": "channel",
            }
            # Slack signs its retry afresh, when it sends it (after its 3 s timeout).
            sent = int(time.time())
            first = slackreq.event_callback(SECRET, event, event_id="EvREPLICA1", timestamp=sent - 3)
            retry = slackreq.event_callback(SECRET, event, event_id="EvREPLICA1", retry_num=1, timestamp=sent)
            assert _post(ports[0], first) == 200 and _post(ports[1], retry) == 200
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _entries(engine):
                time.sleep(0.2)
            time.sleep(1)
            assert len(_entries(engine)) == 1
            with session_scope(engine) as session:
                assert auditlog.verify(session, AUDIT_KEY.encode()).ok
        finally:
            engine.dispose()
    finally:
        for process in replicas:
            process.terminate()
        for process in replicas:
            process.wait(timeout=20)
