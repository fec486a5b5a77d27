"""HTTP mode's processes (bot/processes.py): the web server only saves and acknowledges, a
work process does the work, woken by the doorbell; the supervisor restarts a work process
that dies and takes everything down with it. Driven as an operator runs it: `python app.py`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.doorbell import Doorbell
from bot.processes import Heartbeat
from devtools import slackreq
from devtools.process import app_env, free_port, start_app, wait_until
from storage.db import make_engine, session_scope
from storage.inbox import FORM_FIRST, NORMAL, InboxRequest, InboxStatus, claim
from storage.migrate import upgrade
from tests.support import SECRET

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(n) for n in (task / "children").read_text().split()]
    return found


def _work_processes(supervisor: int) -> list[int]:
    """The supervisor's children that have none of their own (gunicorn's master has its workers)."""
    return [pid for pid in _children(supervisor) if not _children(pid)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[16])


def _start(tmp_path, slack, url: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = app_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        DATABASE_URL=url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        CARETHREAD_ACCESS_LOG="0",
    )
    return start_app(env), port


def _create_case(port: int, slack, label: str) -> None:
    request = slackreq.slash_command(
        SECRET,
        command="/case",
        text=f"create {label} as therapist",
        user="U0THERA",
        response_url=slack.url + "r/x",
    )
    http = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events", data=request.body.encode(), headers=request.headers
    )
    with urllib.request.urlopen(http, timeout=10) as response:
        assert response.status == 200
        assert response.read() == b""  # acknowledged without "the reply may be late"


def _done(engine) -> int:
    with session_scope(engine) as session:
        return session.execute(
            select(func.count()).select_from(InboxRequest).where(InboxRequest.status == InboxStatus.DONE)
        ).scalar_one()


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return process.stderr.read() if process.stderr else ""


def test_a_work_process_that_dies_is_started_again_and_the_work_goes_on(tmp_path, slack, db_url_and_engine):
    url, engine = db_url_and_engine
    process, port = _start(tmp_path, slack, url)
    try:
        web = [pid for pid in _children(process.pid) if _children(pid)]
        [worker] = _work_processes(process.pid)
        assert len(web) == 1  # gunicorn's master, with its web worker(s)
        assert _nice(worker) == _nice(web[0]) + 10  # CARETHREAD_WORK_NICENESS: acks go first
        _create_case(port, slack, "Blue Heron")
        wait_until(lambda: _done(engine) == 1, 20, "the first request")
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: not _alive(worker), 10, "the work process to die")
        _create_case(port, slack, "Grey Heron")  # saved while no work process runs
        wait_until(lambda: _done(engine) == 2, 30, "the restarted work process")
        assert _work_processes(process.pid) and worker not in _work_processes(process.pid)
        with session_scope(engine) as session:
            labels = session.execute(text("SELECT count(*) FROM cases")).scalar_one()
        assert labels == 2
    finally:
        stderr = _stop(process)
    assert process.returncode == 0, stderr[-2000:]
    assert "work process 0 exited" in stderr
    assert "Traceback" not in stderr


def test_sigterm_to_the_supervisor_stops_every_process(tmp_path, slack, db_url_and_engine):
    url, _engine = db_url_and_engine
    process, _port = _start(tmp_path, slack, url)
    children = _children(process.pid)
    grandchildren = [pid for child in children for pid in _children(child)]
    assert len(children) == 2 and grandchildren
    stderr = _stop(process)
    assert process.returncode == 0, stderr[-2000:]
    for pid in children + grandchildren:
        wait_until(lambda pid=pid: not _alive(pid), 10, f"process {pid} to stop")
    assert "work process stopped; released" in stderr


def test_a_supervisor_killed_outright_leaves_nothing_running(tmp_path, slack):
    process, _port = _start(tmp_path, slack, f"sqlite:///{tmp_path / 'carethread.db'}")
    children = _children(process.pid)
    grandchildren = [pid for child in children for pid in _children(child)]
    try:
        os.kill(process.pid, signal.SIGKILL)  # the supervisor alone, not its group
        process.wait(timeout=10)
        for pid in children + grandchildren:
            wait_until(lambda pid=pid: not _alive(pid), 30, f"process {pid} to stop with its supervisor")
    finally:
        if any(_alive(pid) for pid in children + grandchildren):
            os.killpg(process.pid, signal.SIGKILL)


def test_the_doorbell_never_blocks_and_answers_every_ring_at_once():
    bell = Doorbell()
    try:
        assert bell.wait(0.01) is False
        for _ in range(200_000):  # far more than a pipe holds: ringing a full pipe returns
            bell.ring()
        assert bell.wait(1.0) is True
        while bell.wait(0):  # drained in a few reads, whatever was rung
            pass
        assert bell.wait(0.01) is False
    finally:
        bell.close()


def test_a_ring_in_one_process_wakes_a_waiter_in_another():
    bell = Doorbell()
    try:
        pid = os.fork()
        if pid == 0:  # the web process's side
            time.sleep(0.2)
            bell.ring()
            os._exit(0)
        started = time.monotonic()
        assert bell.wait(10.0) is True
        assert time.monotonic() - started < 10.0
        os.waitpid(pid, 0)
    finally:
        bell.close()


def test_requests_that_open_a_form_are_claimed_before_older_ones(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        for n, priority in enumerate((NORMAL, NORMAL, FORM_FIRST, NORMAL, FORM_FIRST)):
            session.add(InboxRequest(received_at=now, kind="c", listener=f"k{n}", priority=priority))
    with session_scope(engine) as session:
        ids = claim(session, owner="w", now=now, until=now, limit=3)
        listeners = [session.get(InboxRequest, i).listener for i in ids]  # type: ignore[union-attr]
    assert listeners == ["k2", "k4", "k0"]
    engine.dispose()


def _health(port: int) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_health_check_fails_while_no_work_process_runs(tmp_path, slack):
    """Requests saved that no work process takes: the load balancer must see it, and the
    check answers even while a stuck writer holds SQLite's write lock."""
    url = f"sqlite:///{tmp_path / 'carethread.db'}"
    process, port = _start(tmp_path, slack, url)
    [worker] = _work_processes(process.pid)
    heartbeat = tmp_path / "work-heartbeat"
    engine = make_engine(url)
    try:
        assert _health(port) == (200, b"ok\n")
        with engine.begin() as connection:  # a writer that holds the lock meanwhile
            connection.exec_driver_sql("SELECT 1")
            os.kill(worker, signal.SIGSTOP)  # alive, but doing nothing
            long_ago = time.time() - Heartbeat.STALE_SECONDS - 5
            os.utime(heartbeat, (long_ago, long_ago))  # as if it had been stopped for a while
            assert _health(port) == (503, b"work process not running\n")
        os.kill(worker, signal.SIGCONT)
        wait_until(lambda: _health(port)[0] == 200, Heartbeat.HEARTBEAT_SECONDS + 10, "a fresh heartbeat")
    finally:
        os.kill(worker, signal.SIGCONT)
        engine.dispose()
        stderr = _stop(process)
    assert "no work process is running" in stderr
