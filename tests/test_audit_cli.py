"""`python -m bot.audit`, run as operators run it: a subprocess against a SQLite file, with
settings from the environment. Exit codes, outputs, and what it leaves in the database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhir.resources.bundle import Bundle
from sqlalchemy import text

from bot.config import PROJECT_ROOT
from storage.audit import ThreadEntry
from storage.db import make_engine
from tests.audit_helpers import reply
from tests.support import (
    ALICE,
    BOB,
    Harness,
    care_team,
    make_settings,
)

NOW = datetime.now(UTC)


def slack_ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


@pytest.fixture
def operator_db(tmp_path: Path, slack, clock):
    """A SQLite file with two cases and their threads, written by the real app; returns the
    environment a subprocess needs to open it with the same keys."""
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "DATABASE_URL": url,
        "CARETHREAD_DATA_DIR": str(tmp_path / "data"),
    }
    engine = make_engine(url)
    clock.set(NOW)
    h = Harness(make_settings(tmp_path, slack, DATABASE_URL=url), engine, slack, clock)
    first = care_team(h, {ALICE: "prescriber", BOB: "therapist"}, label="Blue Heron")
    root = h.root_ts(first)
    h.event(reply(root, BOB, "old note about sertraline", ts=slack_ts(NOW - timedelta(days=400))))
    h.event(reply(root, ALICE, "recent note", ts=slack_ts(NOW - timedelta(days=2))))
    second = care_team(h, {BOB: "prescriber"}, label="Red Kite")
    h.event(reply(h.root_ts(second), BOB, "second case, old", ts=slack_ts(NOW - timedelta(days=500))))
    h.close()
    yield h, env
    engine.dispose()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.audit", *args],
        cwd=PROJECT_ROOT,
        env={"PATH": os.environ.get("PATH", ""), "CARETHREAD_DOTENV": "", **env},
        capture_output=True,
        timeout=120,
    )


def tamper(engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement))


def test_verify_exit_status_and_first_bad_seq(operator_db):
    h, env = operator_db
    ok = run_cli(env, "verify")
    assert ok.returncode == 0, ok.stderr
    assert b"the chain is intact" in ok.stdout

    original = h.audit_events(seq=3)[0].actor
    tamper(h.engine, "UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 3")
    broken = run_cli(env, "verify")
    assert broken.returncode == 1
    assert b"first bad seq: 3" in broken.stdout and b"BROKEN at seq 3" in broken.stderr

    tamper(h.engine, f"UPDATE audit_events SET actor = '{original}' WHERE seq = 3")
    assert run_cli(env, "verify").returncode == 0
    # Deleting a row in the middle is found where the gap is.
    tamper(h.engine, "DELETE FROM audit_events WHERE seq = 5")
    assert b"first bad seq: 5" in run_cli(env, "verify").stdout

    results = [
        (e.action, e.outcome, e.actor, e.source) for e in h.audit_events() if e.action.startswith("audit.ver")
    ]
    assert [r[:2] for r in results] == [
        ("audit.verified", "ok"),
        ("audit.verify_failed", "error"),
        ("audit.verified", "ok"),
        ("audit.verify_failed", "error"),
    ]
    assert {r[2:] for r in results} == {("cli", "cli")}


def test_bad_settings_exit_2_with_a_message(operator_db):
    _, env = operator_db
    result = run_cli({k: v for k, v in env.items() if k != "SLACK_BOT_TOKEN"}, "verify")
    assert result.returncode == 2 and b"SLACK_BOT_TOKEN" in result.stderr
    wrong_key = run_cli({**env, "CARETHREAD_AUDIT_KEY": "another-key-0123456789"}, "verify")
    assert wrong_key.returncode == 2 and b"CARETHREAD_AUDIT_KEY" in wrong_key.stderr


def test_export_to_a_file_and_to_stdout(operator_db, tmp_path):
    h, env = operator_db
    out = tmp_path / "c1.json"
    result = run_cli(env, "export", "--case", "C-1", "--format", "json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["case"] == "C-1" and doc["exported_by"] == "cli"
    assert [line["text"] for line in doc["transcript"]] == ["old note about sertraline", "recent note"]
    assert "second case" not in out.read_text() and "Red Kite" not in out.read_text()

    csv_run = run_cli(env, "export", "--case", "c-2")
    assert csv_run.returncode == 0, csv_run.stderr
    rows = list(csv.DictReader(io.StringIO(csv_run.stdout.decode())))
    assert [r["text"] for r in rows if r["record"] == "transcript"] == ["second case, old"]

    fhir_run = run_cli(env, "export", "--case", "C-2", "--format", "fhir")
    assert Bundle.model_validate_json(fhir_run.stdout).entry

    exported = [e for e in h.audit_events() if e.action == "audit.exported"]
    assert [(e.case_id, e.actor, e.source) for e in exported] == [
        (1, "cli", "cli"),
        (2, "cli", "cli"),
        (2, "cli", "cli"),
    ]
    invoked = [json.loads(e.details) for e in h.audit_events() if e.action == "cli.invoked"]
    assert all(d["command"] == "export" and d["os_user"] for d in invoked)

    missing = run_cli(env, "export", "--case", "C-9")
    assert missing.returncode == 1 and b"There is no case C-9" in missing.stderr
    assert run_cli(env, "export", "--case", "nine").returncode == 1
    assert run_cli(env, "export", "--case", "C-1", "--format", "pdf").returncode == 2  # argparse


def test_purge_removes_old_text_only_keeps_events_and_is_audited(operator_db):
    h, env = operator_db
    before = [(e.seq, e.hash) for e in h.audit_events()]
    assert run_cli(env, "purge", "--older-than-days", "0").returncode == 1
    result = run_cli(env, "purge", "--older-than-days", "365")
    assert result.returncode == 0, result.stderr
    assert b"purged the text of 2 transcript entries in 2 cases" in result.stdout

    rows = h.rows(ThreadEntry)
    by_text = {h.deps.cipher.decrypt_optional(r.text_enc): r for r in rows}
    assert set(by_text) == {None, "recent note"}
    purged = [r for r in rows if r.purged_at is not None]
    assert len(purged) == 2 and all(r.text_enc is None and r.files_enc is None for r in purged)

    after = h.audit_events()
    assert [(e.seq, e.hash) for e in after[: len(before)]] == before  # nothing rewritten
    purges = [(e.case_id, json.loads(e.details)["entries"]) for e in after if e.action == "transcript.purged"]
    assert sorted(purges) == [(1, 1), (2, 1)]
    [run] = [json.loads(e.details) for e in after if e.action == "transcript.purge_run"]
    assert run["entries"] == 2 and run["older_than_days"] == 365

    again = run_cli(env, "purge", "--older-than-days", "365")
    assert b"purged the text of 0 transcript entries in 0 cases" in again.stdout
    assert run_cli(env, "verify").returncode == 0
