"""Verifying the audit chain: in full (the command line), and periodically, cheaply, from
where the last run stopped (a sweep step), with an alert to the admin channel when it fails.

The periodic run keeps its progress in app_meta (`audit_verify`): the last verified seq and
hash (the tip), where the rolling re-check of older rows has got to, when it is next due,
and which failure it last alerted about. Each run
  1. checks that the tip row still has the hash it had (so a rewrite of it is caught),
  2. verifies the rows appended since (at most TIP_BATCH; the rest at the next sweep),
     against the chain head and with nothing allowed beyond the head,
  3. re-verifies the next RECHECK_CHUNK older rows, wrapping around, so over a number of
     runs every row is checked again: an old row altered later is found too.
  4. checks the chain against the latest checkpoint anchored outside the database
     (bot/audit/anchor.py) and, when it verified, anchors its new tip there; once a day the
     latest checkpoint is also posted to the admin channel.
The full check is `python -m bot.audit verify`. Reads happen in one snapshot
(storage.db.snapshot_scope), so rows appended meanwhile never look like a broken tail.
"""

from __future__ import annotations

import hmac
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, func, select

from bot import auditlog
from bot.audit import anchor
from bot.audit.anchor import AnchorError, Checkpoint
from bot.audit.settings import AuditSettings
from bot.auditlog import GENESIS_HASH, Outcome, Source, VerifyResult
from bot.unit import Actor, Unit
from storage import audit as repo
from storage.core import AuditEvent, AuditHead
from storage.db import make_engine, session_scope, snapshot_scope

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

TIP_BATCH = 200_000
RECHECK_CHUNK = 20_000
PARALLEL_FROM = 200_000  # events from which the full check is split between processes
MAX_WORKERS = 8
ANCHOR_POST_EVERY = timedelta(days=1)


class _AnchorUnreadable(Exception):
    """The anchor file was tampered with: a verification result of its own."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(result.problem)
        self.result = result


def _latest_checkpoint(deps: Deps) -> Checkpoint | None:
    """Read BEFORE the snapshot opens (see anchor.check_chain); None when not anchoring."""
    directory = deps.settings.section(AuditSettings).anchor_dir
    if directory is None:
        return None
    try:
        return anchor.latest_checkpoint(directory, deps.audit_key)
    except AnchorError as err:
        raise _AnchorUnreadable(VerifyResult(False, 0, None, f"the anchor file was altered: {err}")) from None


def verify_full(deps: Deps, *, workers: int | None = None) -> VerifyResult:
    """The whole chain, from seq 1 to the head, in one snapshot (a long chain split between
    processes, `verify_in_parallel`), then against the latest checkpoint anchored outside the
    database (which catches a removed tail or an emptied chain that the head row was reset to
    match)."""
    try:
        checkpoint = _latest_checkpoint(deps)
    except _AnchorUnreadable as err:
        return err.result
    with snapshot_scope(deps.engine) as session:
        result = verify_in_parallel(deps.settings.database_url, deps.audit_key, session, workers=workers)
        if result.ok and checkpoint is not None:
            anchored = anchor.check_chain(session, checkpoint)
            if anchored is not None:
                return VerifyResult(False, result.checked, anchored.first_bad_seq, anchored.problem)
        return result


def start_method() -> str:
    """How verify_in_parallel starts its processes: "fork" where the platform has it and this
    process runs one thread, else "spawn". A spawned process imports the app again (about a
    second, as long as verifying a few hundred thousand events); a forked one starts in
    milliseconds. Forking a process with other threads can copy a lock one of them holds, so
    then it spawns. A forked process never touches the connections it inherits: it opens its
    own engine (`_verify_part`) and leaves through os._exit, which closes nothing of the
    parent's."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def verify_in_parallel(
    url: str, key: bytes, session: Session, *, workers: int | None = None, method: str | None = None
) -> VerifyResult:
    """auditlog.verify, with the chain cut into `workers` ranges verified by as many processes
    (default: one per core once the chain has PARALLEL_FROM events; below that, starting
    processes costs more than it saves). `session` is the caller's snapshot: it fixes the head,
    and each range ends at or below it, so rows appended meanwhile are never read. A range
    starts from the stored hash of the row before it, which the range before verifies, so
    the links across ranges are checked too. Reports what the one-process walk reports.
    `method`: the processes' start method (default: `start_method()`)."""
    head = session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(False, 0, 1, "the chain head is missing")
    count = workers if workers is not None else (os.cpu_count() or 1) if head.seq >= PARALLEL_FROM else 1
    count = max(1, min(count, MAX_WORKERS, head.seq))
    if count == 1:
        return auditlog.verify_range(session, key, head=head)
    bounds = [(head.seq * i // count, head.seq * (i + 1) // count) for i in range(count)]
    context = multiprocessing.get_context(method or start_method())
    with ProcessPoolExecutor(count, mp_context=context) as pool:
        parts = list(pool.map(_verify_part, [url] * count, [key] * count, *zip(*bounds, strict=True)))
    checked = 0
    for (after, upto), part in zip(bounds, parts, strict=True):
        if not part.ok:
            return replace(part, checked=checked + part.checked)
        if part.checked != upto - after:  # the range's newest rows are missing
            last = after + part.checked
            problem = (
                f"chain ends at {last}, head says {head.seq}" if upto == head.seq else "a row is missing"
            )
            return VerifyResult(False, checked + part.checked, last + 1, problem)
        checked += part.checked
    newest = session.execute(select(func.max(AuditEvent.seq))).scalar() or 0
    tip = session.get(AuditEvent, head.seq)
    if newest != head.seq or tip is None or tip.hash != head.hash:
        return VerifyResult(
            False, checked, min(head.seq, newest) + 1, f"chain ends at {newest}, head says {head.seq}"
        )
    return VerifyResult(True, checked)


def _verify_part(url: str, key: bytes, after: int, upto: int) -> VerifyResult:
    """One range, in a process of its own (its own engine and snapshot)."""
    engine = make_engine(url)
    try:
        with snapshot_scope(engine) as session:
            before = session.get(AuditEvent, after) if after > 0 else None
            if after > 0 and before is None:
                return VerifyResult(False, 0, after, "a row is missing")
            prev = before.hash if before is not None else GENESIS_HASH
            return auditlog.verify_range(session, key, after=after, upto=upto, prev_hash=prev)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class RunResult:
    status: str  # "ok", "failed", "not_due", "busy"
    checked: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    alerted: bool = False


@dataclass(frozen=True)
class _Check:
    result: VerifyResult
    tip_seq: int
    tip_hash: str
    recheck_seq: int
    more: bool  # rows left for the next sweep


def periodic_verification(deps: Deps) -> str:
    return run_periodic(deps).status


def run_periodic(deps: Deps, *, tip_batch: int = TIP_BATCH, recheck_chunk: int = RECHECK_CHUNK) -> RunResult:
    """One periodic verification, if due and no other replica is running it."""
    now = deps.clock.now()
    with session_scope(deps.engine) as session:
        state = repo.load_verify_state(session=session, lock=True, skip_locked=True)
        missing = not state and repo.verify_state_missing(session=session)
        if not state and not missing:
            return RunResult("busy")
        if not missing:
            due = state.get("due_at")
            if due and now < datetime.fromisoformat(due):
                return RunResult("not_due")
            # Claim this period before the (unlocked) read, so another replica skips it.
            period = timedelta(seconds=deps.settings.section(AuditSettings).verify_seconds)
            state["due_at"] = (now + period).isoformat()
            repo.save_verify_state(session=session, state=state)
    if missing:
        # Removing this row would otherwise silence the periodic check for good ("busy"). Say
        # so; saving the failure recreates the row, and the next run verifies from seq 1.
        problem = "the verifier's progress (app_meta audit_verify) was removed"
        return _record(deps, {}, _Check(VerifyResult(False, 0, None, problem), 0, GENESIS_HASH, 1, False))

    try:
        checkpoint = _latest_checkpoint(deps)
    except _AnchorUnreadable as err:
        return _record(deps, state, _Check(err.result, 0, GENESIS_HASH, 1, False))
    with snapshot_scope(deps.engine) as session:
        check = _check(session, deps.audit_key, state, tip_batch, recheck_chunk)
        if check.result.ok and checkpoint is not None:
            anchored = anchor.check_chain(session, checkpoint)
            if anchored is not None:
                check = _Check(anchored, check.tip_seq, check.tip_hash, check.recheck_seq, False)

    anchored_seq = _anchor_tip(deps, check, checkpoint)
    return _record(deps, state, check, anchored_seq)


def _anchor_tip(deps: Deps, check: _Check, checkpoint: Checkpoint | None) -> int | None:
    """Append the newly verified tip to the anchor file; the seq anchored, or None. A failed
    write is logged and audited (the next run tries again), never fatal to verification."""
    directory = deps.settings.section(AuditSettings).anchor_dir
    if directory is None or not check.result.ok or check.tip_seq == 0:
        return None
    if checkpoint is not None and checkpoint.seq >= check.tip_seq:
        return None
    try:
        anchor.append_checkpoint(
            directory, deps.audit_key, seq=check.tip_seq, chain_hash=check.tip_hash, at=deps.clock.now()
        )
    except OSError:
        log.exception("could not append the audit checkpoint to %s", anchor.anchor_path(directory))
        deps.record(
            Actor.app(Source.SCHEDULER), "audit.anchor_failed", Outcome.ERROR, target=f"seq:{check.tip_seq}"
        )
        return None
    return check.tip_seq


def _check(session: Session, key: bytes, state: dict[str, Any], tip_batch: int, recheck_chunk: int) -> _Check:
    tip_seq = int(state.get("tip_seq") or 0)
    tip_hash = str(state.get("tip_hash") or GENESIS_HASH)
    recheck_seq = int(state.get("recheck_seq") or 1)
    head = session.get(AuditHead, 1)

    def failed(seq: int, problem: str, checked: int = 0) -> _Check:
        return _Check(VerifyResult(False, checked, seq, problem), tip_seq, tip_hash, recheck_seq, False)

    if head is None:
        return failed(1, "the chain head is missing")
    if tip_seq > 0:
        anchor = session.get(AuditEvent, tip_seq)
        if anchor is None:
            return failed(tip_seq, "a verified row is missing")
        if anchor.hash != tip_hash or not hmac.compare_digest(auditlog.event_hash(key, anchor), anchor.hash):
            return failed(tip_seq, "a verified row was changed")
    if head.seq < tip_seq or (head.seq == tip_seq and head.hash != tip_hash):
        return failed(min(head.seq, tip_seq) + 1, f"head says {head.seq}, verified up to {tip_seq}")

    # 2. what is new since the last run
    upto = min(head.seq, tip_seq + tip_batch)
    rows = auditlog.iter_events(session, after=tip_seq, upto=upto)
    at_head = upto == head.seq
    result = auditlog.verify_rows(
        key, rows, head if at_head else None, start_seq=tip_seq + 1, prev_hash=tip_hash
    )
    if result.ok and not at_head and result.checked != upto - tip_seq:
        result = VerifyResult(False, result.checked, tip_seq + result.checked + 1, "a row is missing")
    if result.ok and at_head and _beyond(session, head.seq):
        result = VerifyResult(False, result.checked, head.seq + 1, "rows beyond the chain head")
    if not result.ok:
        return _Check(result, tip_seq, tip_hash, recheck_seq, False)
    new_tip_hash = head.hash if at_head else session.get(AuditEvent, upto).hash  # type: ignore[union-attr]
    checked = result.checked

    # 3. the rolling re-check of rows verified in earlier runs
    if tip_seq > 0:
        start = recheck_seq if 1 <= recheck_seq <= tip_seq else 1
        end = min(tip_seq, start + recheck_chunk - 1)
        prev = session.get(AuditEvent, start - 1) if start > 1 else None
        if start > 1 and prev is None:
            return failed(start - 1, "a row is missing", checked)
        older = auditlog.verify_rows(
            key,
            auditlog.iter_events(session, after=start - 1, upto=end),
            start_seq=start,
            prev_hash=prev.hash if prev else GENESIS_HASH,
        )
        if older.ok and older.checked != end - start + 1:
            older = VerifyResult(False, older.checked, start + older.checked, "a row is missing")
        if not older.ok:
            return failed(older.first_bad_seq or start, older.problem or "", checked)
        checked += older.checked
        # Back to the start once the pass reaches the tip it began under; chasing the tip
        # instead would never come round again, because every run appends events.
        recheck_seq = end + 1 if end < tip_seq else 1

    return _Check(VerifyResult(True, checked), upto, new_tip_hash, recheck_seq, not at_head)


def _beyond(session: Session, seq: int) -> bool:
    return session.execute(select(AuditEvent.seq).where(AuditEvent.seq > seq).limit(1)).first() is not None


def _record(deps: Deps, claimed: dict[str, Any], check: _Check, anchored_seq: int | None = None) -> RunResult:
    """Save progress and audit the run; on failure, alert once per new failure."""
    result = check.result
    if result.ok:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            if anchored_seq is not None:
                unit.audit("audit.anchored", target=f"seq:{anchored_seq}")
            state = repo.load_verify_state(session=unit.session, lock=True)
            if (state.get("tip_seq"), state.get("tip_hash")) == (
                claimed.get("tip_seq"),
                claimed.get("tip_hash"),
            ):
                state.update(tip_seq=check.tip_seq, tip_hash=check.tip_hash, recheck_seq=check.recheck_seq)
            if check.more:
                state["due_at"] = None  # carry on at the next sweep
            state["alerted"] = None
            unit.audit("audit.verified", target=f"seq:{check.tip_seq}", checked=result.checked)
            _post_checkpoint_daily(unit, state)
            repo.save_verify_state(session=unit.session, state=state)
        return RunResult("ok", result.checked)

    failure = f"{result.first_bad_seq}:{result.problem}"
    channel = deps.settings.admin_channel
    alert = False
    try:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            state = repo.load_verify_state(session=unit.session, lock=True)
            alert = state.get("alerted") != failure
            unit.audit(
                "audit.verify_failed",
                outcome=Outcome.ERROR,
                target=f"seq:{result.first_bad_seq}",
                problem=result.problem,
                alerted=bool(alert and channel),
            )
            if alert and channel:
                unit.post(channel=channel, message=_alert(deps, result), purpose="audit_alert")
            state["alerted"] = failure
            repo.save_verify_state(session=unit.session, state=state)
    except Exception:
        # A row forged beyond the head makes every append collide with it: the failure
        # cannot be written to the trail, and an outbox message could not record its
        # delivery. Say it now, directly, still once per failure.
        log.exception("could not record the audit verification failure in the audit trail")
        alert = _alert_directly(deps, result, failure)
    if alert and not channel:
        log.error(
            "audit chain verification failed at seq %s (%s) and CARETHREAD_ADMIN_CHANNEL is not set, "
            "so nobody was alerted in Slack",
            result.first_bad_seq,
            result.problem,
        )
    return RunResult("failed", result.checked, result.first_bad_seq, result.problem, bool(alert and channel))


def _post_checkpoint_daily(unit: Unit, state: dict[str, Any]) -> None:
    """A second copy of the anchor, outside this server: the latest checkpoint, posted to the
    admin channel at most once a day (in the run's unit, so it is posted once)."""
    deps = unit.deps
    directory = deps.settings.section(AuditSettings).anchor_dir
    channel = deps.settings.admin_channel
    if directory is None or not channel:
        return
    posted = state.get("anchor_posted_at")
    if posted and unit.now - datetime.fromisoformat(posted) < ANCHOR_POST_EVERY:
        return
    try:
        checkpoint = anchor.latest_checkpoint(directory, deps.audit_key)
    except AnchorError:
        return  # the next run reports it as a verification failure
    if checkpoint is None:
        return
    message = deps.renderer.message(
        "audit/audit_checkpoint", seq=checkpoint.seq, hash=checkpoint.hash, at=checkpoint.at
    )
    unit.post(channel=channel, message=message, purpose="audit_checkpoint")
    unit.audit("audit.checkpoint_posted", target=f"seq:{checkpoint.seq}")
    state["anchor_posted_at"] = unit.now.isoformat()


def _alert(deps: Deps, result: VerifyResult) -> dict[str, Any]:
    return deps.renderer.message(
        "audit/audit_alert", seq=result.first_bad_seq, problem=result.problem, at=deps.clock.now()
    )


def _alert_directly(deps: Deps, result: VerifyResult, failure: str) -> bool:
    with session_scope(deps.engine) as session:
        state = repo.load_verify_state(session=session, lock=True)
        if state.get("alerted") == failure:
            return False
        state["alerted"] = failure
        repo.save_verify_state(session=session, state=state)
    if deps.settings.admin_channel:
        try:
            deps.gateway.post_now(deps.settings.admin_channel, _alert(deps, result))
        except Exception:
            log.exception("could not post the audit verification alert to the admin channel")
    return True
