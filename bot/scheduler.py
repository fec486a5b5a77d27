"""Scheduled work: a few fixed APScheduler jobs, never one job per case.

The database says what is due; each sweep claims due rows atomically, so several replicas
(each with its own in-memory scheduler, never a shared job store) fire each item once, and
a restart after downtime fires each missed item once. The core's own steps are below (outbox
retries; forgetting old delivery ids, handled inbox rows and unused cached profiles); each
workflow declares its steps in its `workflow.py`. One interval job runs them all, and once
at start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import delete
from sqlmodel import col

from bot.auditlog import Source
from bot.contributions import SweepStep
from bot.deps import Deps
from bot.slack import USER_CACHE_TTL
from bot.unit import Actor
from storage.core import ProcessedRequest, forget_users_fetched_before
from storage.db import session_scope

log = logging.getLogger(__name__)


def _retry_outbox(deps: Deps) -> int:
    total = 0
    while (claimed := deps.relay.deliver_due()) > 0:
        total += claimed
    return total


PROCESSED_REQUEST_RETENTION = timedelta(days=2)


def _forget_old_deliveries(deps: Deps) -> int:
    """Slack retries an event within minutes; ids older than this can no longer come back."""
    cutoff = deps.clock.now() - PROCESSED_REQUEST_RETENTION
    with session_scope(deps.engine) as session:
        result = session.exec(delete(ProcessedRequest).where(col(ProcessedRequest.created_at) < cutoff))
        return result.rowcount or 0


def _forget_unused_users(deps: Deps) -> int:
    """Cached Slack profiles nobody looked up for CARETHREAD_USER_CACHE_DAYS: a departed
    clinician's zone and flags should not stay forever. Every lookup through the gateway
    refreshes a row at least every USER_CACHE_TTL, so a row older than the period plus that
    TTL was certainly not used in the period. Audited with the count (never who)."""
    cutoff = deps.clock.now() - timedelta(days=deps.settings.user_cache_days) - USER_CACHE_TTL
    with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
        purged = forget_users_fetched_before(session=unit.session, cutoff=cutoff)
        if purged:
            unit.audit("users.cache_purged", count=purged, days=deps.settings.user_cache_days)
    return purged


def _forget_old_requests(deps: Deps) -> int:
    """Handled inbox rows (their bodies already dropped) once past the replay window."""
    return deps.inbox.forget_old()


CORE_STEPS: tuple[tuple[str, SweepStep], ...] = (
    ("outbox", _retry_outbox),
    ("processed_requests", _forget_old_deliveries),
    ("inbox", _forget_old_requests),
    ("users_cache", _forget_unused_users),
)


def sweep_steps(deps: Deps) -> list[tuple[str, SweepStep]]:
    """The core's steps, then each workflow's, in the order bot/workflows.py lists them."""
    return [*CORE_STEPS, *(step for workflow in deps.workflows for step in workflow.sweep_steps)]


def run_sweep(deps: Deps) -> dict[str, object]:
    """Run every step once; one failing step does not stop the others."""
    results: dict[str, object] = {}
    for name, step in sweep_steps(deps):
        try:
            results[name] = step(deps)
        except Exception:
            log.exception("sweep step %s failed", name)
            results[name] = "failed"
    return results


def start_scheduler(deps: Deps) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        run_sweep,
        "interval",
        args=[deps],
        seconds=deps.settings.sweep_seconds,
        id="sweep",
        next_run_time=datetime.now(UTC),  # once at start-up, then every period
        max_instances=1,
        coalesce=True,  # a late process runs one sweep, not one per missed period
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
