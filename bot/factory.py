"""Build the Bolt app: settings + storage + Slack client + every workflow's listeners,
nothing started yet. With bot/workflows.py, the composition root."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot import deps as deps_module
from bot.clock import Clock
from bot.config import Settings
from bot.contributions import Workflow
from bot.deps import Deps
from bot.workflows import WORKFLOWS

log = logging.getLogger(__name__)
_DEPS_ATTR = "_carethread_deps"


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    engine: Engine | None = None,
    *,
    clock: Clock | None = None,
    listener_executor: Executor | None = None,
    work_executor: Executor | None = None,
    workflows: Sequence[Workflow] = WORKFLOWS,
) -> App:
    """The real app. Tests pass a client pointed at a stand-in Slack, an engine, a clock and
    executors they can wait on."""
    deps = build_deps(
        settings, client=client, engine=engine, clock=clock, work=work_executor, workflows=workflows
    )
    app = App(
        client=deps.client,
        signing_secret=settings.signing_secret,
        # Listeners run after ack() returns Slack's 200, so slow work never costs the 3 s.
        process_before_response=False,
        # Slack's auth.test at start-up; the stand-in answers it too.
        token_verification_enabled=True,
        listener_executor=listener_executor,
        logger=logging.getLogger("slack_bolt"),
    )
    for workflow in deps.workflows:
        importlib.import_module(workflow.listeners).register(app, deps)
    setattr(app, _DEPS_ATTR, deps)
    return app


def deps_of(app: App) -> Deps:
    return getattr(app, _DEPS_ATTR)


def build_deps(
    settings: Settings,
    *,
    client: WebClient | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    work: Executor | None = None,
    workflows: Sequence[Workflow] = WORKFLOWS,
) -> Deps:
    """The process's parts with every workflow (the command line and sweeps-only tools use
    this without a Bolt app)."""
    return deps_module.build_deps(
        settings, client=client, engine=engine, clock=clock, work=work, workflows=workflows
    )
