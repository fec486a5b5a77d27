"""The audit chain anchored outside its database (issue 12): signed checkpoints appended to a
file in CARETHREAD_AUDIT_ANCHOR_DIR by the periodic verification, posted to the admin channel
once a day, and checked by `python -m bot.audit verify`, which must fail when the newest events
were removed (and the head row reset to match) or the chain was emptied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.audit import anchor
from bot.audit import verify as audit_verify
from bot.audit.settings import AuditSettings
from bot.auditlog import GENESIS_HASH
from bot.config import ConfigError
from bot.render import Renderer
from storage.core import AuditHead
from tests.support import ALICE, BOB, care_team, make_settings
from tests.test_audit_chain import tamper
from tests.test_audit_cli import run_cli

ADMIN = "C0ADMIN"
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


@pytest.fixture
def anchored(tmp_path: Path, db_url_and_engine, make_harness):
    """An app with an anchor directory and some activity; the environment the CLI needs."""
    url, _ = db_url_and_engine
    anchor_dir = tmp_path / "anchor"
    h = make_harness(CARETHREAD_AUDIT_ANCHOR_DIR=str(anchor_dir), CARETHREAD_ADMIN_CHANNEL=ADMIN)
    case_id = care_team(h, {ALICE: "prescriber", BOB: "therapist"})
    h.command(ALICE, f"show C-{case_id}")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "DATABASE_URL": url,
        "CARETHREAD_DATA_DIR": str(tmp_path / "data"),
        "CARETHREAD_AUDIT_ANCHOR_DIR": str(anchor_dir),
    }
    return h, env, anchor_dir


def _verify_periodically(h) -> audit_verify.RunResult:
    result = audit_verify.run_periodic(h.deps)
    h.settle()
    h.clock.advance(timedelta(seconds=h.settings.section(AuditSettings).verify_seconds))
    return result


def _anchor_lines(anchor_dir: Path) -> list[dict]:
    return [json.loads(line) for line in anchor.anchor_path(anchor_dir).read_text().splitlines()]


def _reset_head_to(h, seq: int) -> None:
    """What an intruder with database access does after deleting the tail: make the head row
    (and the verifier's own progress in app_meta) agree with what is left."""
    with h.db() as session:
        last = session.execute(text("SELECT hash FROM audit_events WHERE seq = :seq"), {"seq": seq}).scalar()
        head = session.get(AuditHead, 1)
        head.seq, head.hash = seq, last or GENESIS_HASH
        state = {"tip_seq": seq, "tip_hash": head.hash, "recheck_seq": 1}
        session.execute(
            text("UPDATE app_meta SET value = :value WHERE key = 'audit_verify'"),
            {"value": json.dumps(state)},
        )


def test_the_periodic_verification_anchors_each_new_tip_in_a_signed_line(anchored):
    h, _, anchor_dir = anchored
    h.settle()
    with h.db() as session:
        head = session.get(AuditHead, 1)
        first_tip = (head.seq, head.hash)  # what the run verifies (its own events come after)
    assert _verify_periodically(h).status == "ok"
    lines = _anchor_lines(anchor_dir)
    assert [(line["seq"], line["hash"]) for line in lines] == [first_tip]
    assert set(lines[0]) == {"seq", "hash", "at", "mac"}
    assert h.audit_actions(action="audit.anchored") == [("audit.anchored", "ok")]

    # Nothing new but the run's own events: the next run anchors the new tip, once.
    assert _verify_periodically(h).status == "ok"
    lines = _anchor_lines(anchor_dir)
    assert len(lines) == 2 and lines[1]["seq"] > first_tip[0]
    latest = anchor.latest_checkpoint(anchor_dir, h.deps.audit_key)
    assert latest is not None and latest.seq == lines[1]["seq"]


def test_verify_finds_the_newest_events_removed_and_the_head_reset(anchored):
    h, env, anchor_dir = anchored
    assert _verify_periodically(h).status == "ok"
    h.close()
    ok = run_cli(env, "verify")
    assert ok.returncode == 0, ok.stderr
    assert b"CARETHREAD_AUDIT_ANCHOR_DIR is not set" not in ok.stderr

    checkpoint = anchor.latest_checkpoint(anchor_dir, h.deps.audit_key)
    assert checkpoint is not None and checkpoint.seq > 5
    keep = checkpoint.seq - 3
    tamper(h.engine, f"DELETE FROM audit_events WHERE seq > {keep}")
    _reset_head_to(h, keep)

    broken = run_cli(env, "verify")
    assert broken.returncode == 1, broken.stdout
    assert f"first bad seq: {keep + 1}".encode() in broken.stdout
    assert b"before the anchored checkpoint" in broken.stderr


def test_verify_finds_an_emptied_chain(anchored):
    h, env, _ = anchored
    assert _verify_periodically(h).status == "ok"
    h.close()
    tamper(h.engine, "DELETE FROM audit_events")
    _reset_head_to(h, 0)

    broken = run_cli(env, "verify")
    assert broken.returncode == 1
    assert b"first bad seq: 1" in broken.stdout and b"before the anchored checkpoint" in broken.stderr


def test_without_the_anchor_the_same_truncation_verifies_and_the_cli_says_why(anchored):
    """What the anchor adds: the chain alone cannot see a removed tail."""
    h, env, _ = anchored
    assert _verify_periodically(h).status == "ok"
    h.close()
    tamper(h.engine, "DELETE FROM audit_events")
    _reset_head_to(h, 0)
    unanchored = {k: v for k, v in env.items() if k != "CARETHREAD_AUDIT_ANCHOR_DIR"}
    result = run_cli(unanchored, "verify")
    assert result.returncode == 0
    assert b"CARETHREAD_AUDIT_ANCHOR_DIR is not set" in result.stderr


def test_a_changed_or_forged_checkpoint_line_fails_verify(anchored):
    h, env, anchor_dir = anchored
    assert _verify_periodically(h).status == "ok"
    h.close()
    path = anchor.anchor_path(anchor_dir)
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "seq": line["seq"] - 2}) + "\n")
    result = run_cli(env, "verify")
    assert result.returncode == 1
    assert (
        b"the anchor file was altered" in result.stderr and b"does not match its signature" in result.stderr
    )


def test_the_periodic_verification_alerts_when_the_chain_ends_before_the_anchor(anchored):
    h, _, anchor_dir = anchored
    assert _verify_periodically(h).status == "ok"
    tip = anchor.latest_checkpoint(anchor_dir, h.deps.audit_key).seq
    tamper(h.engine, f"DELETE FROM audit_events WHERE seq > {tip - 2}")
    _reset_head_to(h, tip - 2)
    h.slack.reset()

    result = _verify_periodically(h)
    assert result.status == "failed" and result.alerted
    assert result.first_bad_seq == tip - 1
    alerts = h.posts(ADMIN, starting="CareThread audit trail verification failed")
    assert len(alerts) == 1
    assert "before the anchored checkpoint" in json.dumps(alerts[0]["blocks"])


def test_the_latest_checkpoint_is_posted_to_the_admin_channel_once_a_day(anchored):
    h, _, anchor_dir = anchored
    h.slack.reset()
    assert _verify_periodically(h).status == "ok"
    posted = h.posts(ADMIN, starting="CareThread audit checkpoint")
    checkpoint = anchor.latest_checkpoint(anchor_dir, h.deps.audit_key)
    assert checkpoint is not None
    assert [p["text"] for p in posted] == [f"CareThread audit checkpoint: event {checkpoint.seq}"]
    assert checkpoint.hash in json.dumps(posted[0]["blocks"])

    for _ in range(3):  # hourly runs within the day: anchored, not posted again
        assert _verify_periodically(h).status == "ok"
    assert len(h.posts(ADMIN, starting="CareThread audit checkpoint")) == 1
    h.clock.advance(timedelta(days=1))
    assert _verify_periodically(h).status == "ok"
    assert len(h.posts(ADMIN, starting="CareThread audit checkpoint")) == 2
    assert len(h.audit_events(action="audit.checkpoint_posted")) == 2


@pytest.mark.parametrize("inside", ["", "sub/dir"])
def test_the_anchor_directory_must_not_be_the_data_directory(tmp_path, inside):
    with pytest.raises(ConfigError, match="CARETHREAD_AUDIT_ANCHOR_DIR must be outside the data directory"):
        make_settings(tmp_path, CARETHREAD_AUDIT_ANCHOR_DIR=str(tmp_path / "data" / inside))


def test_the_cli_refuses_to_start_with_the_anchor_in_the_data_directory(anchored, tmp_path):
    h, env, _ = anchored
    h.close()
    result = run_cli({**env, "CARETHREAD_AUDIT_ANCHOR_DIR": env["CARETHREAD_DATA_DIR"]}, "verify")
    assert result.returncode == 2
    assert b"CARETHREAD_AUDIT_ANCHOR_DIR must be outside the data directory" in result.stderr


def test_the_checkpoint_and_anchor_alert_templates_render():
    posted = Renderer().message(
        "audit/audit_checkpoint", seq=42, hash="ab" * 32, at=datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert posted["text"] == "CareThread audit checkpoint: event 42"
    assert "ab" * 32 in json.dumps(posted["blocks"]) and "<!date^" in json.dumps(posted)
    # An altered anchor file names no event: the alert leaves the seq out rather than show "#".
    alert = Renderer().message("audit/audit_alert", seq=None, problem="the anchor file was altered", at=NOW)
    assert "event *#" not in json.dumps(alert) and "the anchor file was altered" in json.dumps(alert)


@pytest.mark.parametrize(
    "how",
    [
        "DELETE FROM app_meta WHERE key = 'audit_verify'",
        "UPDATE app_meta SET value = '{}' WHERE key = 'audit_verify'",
    ],
)
def test_removing_the_verifiers_progress_does_not_silence_it(anchored, how):
    """Without its progress row the periodic check used to answer "busy" for ever; now it is a
    failure the admin channel hears about, and the next run verifies from seq 1 again."""
    h, _, _ = anchored
    assert _verify_periodically(h).status == "ok"
    tamper(h.engine, how)
    h.slack.reset()
    failed = _verify_periodically(h)
    assert (failed.status, failed.alerted) == ("failed", True)
    assert "verifier's progress" in (failed.problem or "")
    assert len(h.posts(ADMIN, starting="CareThread audit trail verification failed")) == 1
    with h.db() as session:
        head = session.get(AuditHead, 1).seq
    again = _verify_periodically(h)
    assert (again.status, again.checked) == ("ok", head)  # the whole chain, from seq 1


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({}, "CARETHREAD_AUDIT_ANCHOR_DIR is not set"),
        ({"CARETHREAD_AUDIT_ANCHOR_DIR": "anchor"}, "CARETHREAD_ADMIN_CHANNEL is not set"),
        ({"CARETHREAD_AUDIT_ANCHOR_DIR": "anchor", "CARETHREAD_ADMIN_CHANNEL": "C0ADMIN"}, None),
    ],
)
def test_the_app_says_at_start_what_the_anchor_lacks(tmp_path, caplog, env, warned):
    """No anchor: a removed tail verifies. An anchor without an admin channel: its daily
    checkpoint has no second copy in Slack."""
    import app

    if "CARETHREAD_AUDIT_ANCHOR_DIR" in env:
        env = {**env, "CARETHREAD_AUDIT_ANCHOR_DIR": str(tmp_path / env["CARETHREAD_AUDIT_ANCHOR_DIR"])}
    with caplog.at_level("WARNING"):
        app._warn_if_unanchored(make_settings(tmp_path, **env))
    said = " ".join(r.getMessage() for r in caplog.records)
    if warned is None:
        assert "is not set" not in said
    else:
        assert warned in said
