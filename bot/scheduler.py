"""Scheduled work: a few fixed APScheduler jobs, never one job per case.

The database says what is due; each sweep claims due rows atomically, so several replicas
(each with its own in-memory scheduler, never a shared job store) fire each item once, and
a restart after downtime fires each missed item once. Workflows add their sweep step with
`sweep_step`; one interval job runs them all, and once at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import delete

from bot.deps import Deps
from storage.db import session_scope
from storage.models import ProcessedRequest

log = logging.getLogger(__name__)

SweepStep = Callable[[Deps], object]
SWEEP_STEPS: list[tuple[str, SweepStep]] = []


def sweep_step(name: str) -> Callable[[SweepStep], SweepStep]:
    def register(fn: SweepStep) -> SweepStep:
        SWEEP_STEPS.append((name, fn))
        return fn

    return register


@sweep_step("outbox")
def _retry_outbox(deps: Deps) -> int:
    total = 0
    while (claimed := deps.relay.deliver_due()) > 0:
        total += claimed
    return total


PROCESSED_REQUEST_RETENTION = timedelta(days=2)


@sweep_step("processed_requests")
def _forget_old_deliveries(deps: Deps) -> int:
    """Slack retries an event within minutes; ids older than this can no longer come back."""
    cutoff = deps.clock.now() - PROCESSED_REQUEST_RETENTION
    with session_scope(deps.engine) as session:
        result = session.execute(delete(ProcessedRequest).where(ProcessedRequest.created_at < cutoff))
        return result.rowcount or 0


def run_sweep(deps: Deps) -> dict[str, object]:
    """Run every step once; one failing step does not stop the others."""
    results: dict[str, object] = {}
    for name, step in SWEEP_STEPS:
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
