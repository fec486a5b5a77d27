"""`python app.py` as an operator runs it: fails fast on bad settings, serves HTTP with
gunicorn, answers /healthz and handles a signed command against the stand-in Slack."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from devtools import slackreq
from devtools.process import free_port, wait_healthy
from tests.support import SECRET

ROOT = Path(__file__).resolve().parent.parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CARETHREAD_", "DATABASE_URL"))}
    env.update(extra)
    return env


def test_missing_settings_exit_non_zero_with_one_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(CARETHREAD_DATA_DIR=str(tmp_path)),
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_mode_serves_health_and_commands(tmp_path, slack, db_url_and_engine):
    url, _engine = db_url_and_engine
    port = free_port()
    env = _clean_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        DATABASE_URL=url,
        CARETHREAD_DATA_DIR=str(tmp_path),
        CARETHREAD_SWEEP_SECONDS="1",
    )
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(port, process, timeout=30)
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
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_bad_workflow_setting_stops_start_up_with_one_clear_line(tmp_path, slack):
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.api_url,
            CARETHREAD_DATA_DIR=str(tmp_path),
            DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
            CARETHREAD_SIDEEFFECT_DEADLINE_HIGH="soon",
        ),
    )
    assert result.returncode == 2
    assert "CARETHREAD_SIDEEFFECT_DEADLINE_HIGH" in result.stderr and "Traceback" not in result.stderr
