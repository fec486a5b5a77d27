"""The audit chain anchored outside its database: signed checkpoints in a file.

The hash chain alone cannot show that its newest events were removed, or all of them: someone
with write access to the database can delete the tail and reset the head row, and what is left
still verifies. So after each successful periodic verification the verified tip (seq, hash) is
appended, HMAC-signed, to `audit-anchor.jsonl` in CARETHREAD_AUDIT_ANCHOR_DIR (a directory that
is not the data directory, ideally another disk or host), and posted to the admin channel once a
day. `verify` then fails when the chain ends before the latest checkpoint or has a different
hash at its seq. The signature key is derived from the audit key, so a line cannot be forged or
edited without it; deleting the file's last lines is not detected by the file itself (the
daily Slack post is the second copy: docs/audit.md says what is and is not detected).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.auditlog import VerifyResult
from storage.core import AuditEvent, AuditHead

ANCHOR_FILE = "audit-anchor.jsonl"
_DOMAIN = b"carethread audit anchor v1"


class AnchorError(Exception):
    """The anchor file was altered (a line that does not parse or whose signature is wrong)."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: datetime


def _signing_key(audit_key: bytes) -> bytes:
    # A key of its own, so a checkpoint's signature can never be mistaken for an event hash.
    return hmac.new(audit_key, _DOMAIN, hashlib.sha256).digest()


def _body(seq: int, chain_hash: str, at: str) -> bytes:
    return json.dumps(
        {"seq": seq, "hash": chain_hash, "at": at}, sort_keys=True, separators=(",", ":")
    ).encode()


def anchor_path(directory: Path) -> Path:
    return directory / ANCHOR_FILE


def append_checkpoint(
    directory: Path, audit_key: bytes, *, seq: int, chain_hash: str, at: datetime
) -> Checkpoint:
    """Append one signed line and fsync it: once this returns, the checkpoint survives a crash.
    One write() of a short line with O_APPEND, so concurrent writers never interleave."""
    stamp = at.isoformat(timespec="seconds")
    mac = hmac.new(_signing_key(audit_key), _body(seq, chain_hash, stamp), hashlib.sha256).hexdigest()
    line = json.dumps({"seq": seq, "hash": chain_hash, "at": stamp, "mac": mac}, sort_keys=True) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(anchor_path(directory), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return Checkpoint(seq, chain_hash, datetime.fromisoformat(stamp))


def latest_checkpoint(directory: Path, audit_key: bytes) -> Checkpoint | None:
    """The newest checkpoint (highest seq), after checking every line's signature and that
    the sequence numbers never go back. None when nothing was anchored yet. Raises
    AnchorError naming the line when the file was tampered with."""
    path = anchor_path(directory)
    if not path.exists():
        return None
    key = _signing_key(audit_key)
    latest: Checkpoint | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
                seq, chain_hash, stamp, mac = (
                    int(item["seq"]),
                    str(item["hash"]),
                    str(item["at"]),
                    str(item["mac"]),
                )
            except (ValueError, KeyError, TypeError):
                raise AnchorError(f"{path} line {number} is not a checkpoint") from None
            expected = hmac.new(key, _body(seq, chain_hash, stamp), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, mac):
                raise AnchorError(f"{path} line {number} does not match its signature")
            if latest is not None and seq < latest.seq:
                raise AnchorError(f"{path} line {number} goes back from seq {latest.seq} to {seq}")
            latest = Checkpoint(seq, chain_hash, datetime.fromisoformat(stamp))
    return latest


def check_chain(session: Session, checkpoint: Checkpoint) -> VerifyResult | None:
    """None when the chain reaches the checkpoint with the same hash there; otherwise the
    failure. Read the checkpoint before opening the session's snapshot: a checkpoint is only
    written for rows already committed, so the snapshot then always contains it."""
    head = session.get(AuditHead, 1)
    head_seq = head.seq if head is not None else 0
    if head_seq < checkpoint.seq:
        return VerifyResult(
            False,
            0,
            head_seq + 1,
            f"chain ends at {head_seq}, before the anchored checkpoint at {checkpoint.seq}",
        )
    row = session.get(AuditEvent, checkpoint.seq)
    if row is None:
        return VerifyResult(False, 0, checkpoint.seq, "the anchored checkpoint's event is missing")
    if not hmac.compare_digest(row.hash, checkpoint.hash):
        return VerifyResult(False, 0, checkpoint.seq, "the chain disagrees with the anchored checkpoint")
    return None
