"""`python app.py` as an operator runs it: fails fast on bad settings, serves HTTP with
gunicorn, answers /healthz and handles a signed command against the stand-in Slack."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from app import startup_line
from bot.config import load_settings
from devtools import slackreq
from devtools.process import app_env, free_port, start_app
from tests.support import SECRET

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-do-not-log-7731"


def _run_app(**env: str) -> subprocess.CompletedProcess:
    """`python app.py` in a clean environment (no .env, no inherited settings) plus `env`."""
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=app_env(**env),
    )


def test_missing_settings_exit_non_zero_with_one_clear_message(tmp_path):
    result = _run_app(CARETHREAD_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_mode_serves_health_and_commands(tmp_path, slack, db_url_and_engine):
    url, _engine = db_url_and_engine
    if url.startswith("postgresql") and "@" in url:  # trust auth ignores it; the log must not show it
        url = url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    port = free_port()
    env = app_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        DATABASE_URL=url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        CARETHREAD_SWEEP_SECONDS="1",
    )
    process = start_app(env)
    try:
        base = f"http://127.0.0.1:{port}"
        signed = slackreq.slash_command(
            SECRET,
            command="/case",
            text="create Gunicorn Gull",
            user="U0ALICE",
            response_url=slack.url + "respond/proc",
        )
        request = urllib.request.Request(
            base + "/slack/events", data=signed.body.encode(), headers=signed.headers
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        card = slack.wait_for("chat.postMessage", timeout=15)[0]
        assert card.args["channel"] == "C0CARE" and card.args["text"] == "Case C-1 care-team thread"
        assert "C-1" in slack.wait_for("response_url", timeout=15)[0].args["text"]
        assert (tmp_path / "carethread-keys.env").exists()
        # Bytes gunicorn cannot parse: its errors quote them. A chunk-size line of clinical
        # text (a body's first bytes) gets the edge's plain 400; a request line or a header
        # gunicorn refuses itself, and its log line keeps the kind of error, not the bytes.
        chunked = (
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nclozapine 400mg\r\n{}\r\n0\r\n\r\n"
        )
        answer = _raw_http(port, chunked)
        assert answer.startswith(b"HTTP/1.1 400") and b"clozapine" not in answer
        assert _raw_http(port, b"clozapine 400mg HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
        bad_header = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Note: clozapine\x00400mg\r\n\r\n"
        assert _raw_http(port, bad_header).startswith(b"HTTP/1.1 400")
    finally:
        process.terminate()
        _, log = process.communicate(timeout=20)
    # One start-up line says how it runs; no line per sweep (CARETHREAD_SWEEP_SECONDS=1 above).
    [start] = [line for line in log.splitlines() if "CareThread starting" in line]
    assert f"HTTP on 0.0.0.0:{port}" in start and f"Slack API {slack.api_url}" in start
    assert "database " in start and "request worker" in start and "outbox relay" in start
    assert PASSWORD not in log and "Running job" not in log and "executed successfully" not in log
    assert "clozapine" not in log
    assert "Invalid request from ip=127.0.0.1: Invalid HTTP Header (request bytes not logged)" in log


def _raw_http(port: int, request: bytes) -> bytes:
    """Send bytes as they are (no client would send these) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_the_start_up_line_masks_the_database_password(tmp_path):
    env = {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "CARETHREAD_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"postgresql+psycopg://carethread:{PASSWORD}@db.internal:5432/carethread",
    }
    settings = load_settings(env, dotenv_path=tmp_path / "no.env")
    line = startup_line(settings)
    assert PASSWORD not in line and "carethread:***@db.internal:5432/carethread" in line
    assert line.startswith("CareThread starting: HTTP on 0.0.0.0:3000 · Slack API https://slack.com/api/")
    socket_mode = load_settings({**env, "SLACK_APP_TOKEN": "xapp-1"}, dotenv_path=tmp_path / "no.env")
    assert "Socket Mode" in startup_line(socket_mode)


def test_a_port_in_use_is_one_clear_line_and_exit_code_2(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", port))
        holder.listen()
        result = _run_app(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            PORT=str(port),
            CARETHREAD_DATA_DIR=str(tmp_path),
            DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"carethread: Port {port} on 0.0.0.0 is already in use (is CareThread already running?). "
        "Stop what holds it or set PORT to a free port."
    ]


def test_a_bad_workflow_setting_stops_start_up_with_one_clear_line(tmp_path, slack):
    result = _run_app(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        CARETHREAD_SIDEEFFECT_DEADLINE_HIGH="soon",
    )
    assert result.returncode == 2
    assert "CARETHREAD_SIDEEFFECT_DEADLINE_HIGH" in result.stderr and "Traceback" not in result.stderr
