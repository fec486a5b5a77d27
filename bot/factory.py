"""Build the Bolt app: settings + storage + Slack client + every workflow's listeners,
nothing started yet. With bot/workflows.py, the composition root."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot import deps as deps_module
from bot.clock import Clock
from bot.config import Settings
from bot.contributions import Workflow
from bot.deps import Deps
from bot.logsafe import drop_exception_text
from bot.workflows import WORKFLOWS

log = logging.getLogger(__name__)
_DEPS_ATTR = "_carethread_deps"


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    engine: Engine | None = None,
    *,
    clock: Clock | None = None,
    workflows: Sequence[Workflow] = WORKFLOWS,
) -> App:
    """The real app, its inbox workers not started yet (`deps_of(app).inbox.start(...)`).
    Tests pass a client pointed at a stand-in Slack, an engine and a clock."""
    deps = build_deps(settings, client=client, engine=engine, clock=clock, workflows=workflows)
    app = App(
        client=deps.client,
        signing_secret=settings.signing_secret,
        # Listeners run in the request and only store it in the inbox (bot/inbox.py): the
        # 200 goes back as soon as it is saved, without Bolt's 10 ms ack polling.
        process_before_response=True,
        # Slack's auth.test at start-up; the stand-in answers it too.
        token_verification_enabled=True,
        logger=bolt_logger(),
    )
    for workflow in deps.workflows:
        importlib.import_module(workflow.listeners).register(app, deps)
    deps.inbox.bind(deps)
    setattr(app, _DEPS_ATTR, deps)
    return app


class _NoBodies(logging.Filter):
    """Bolt puts request bodies into some of its log lines (a failed signature check at INFO,
    an unmatched request at WARNING, most DEBUG lines), and the exception's message into its
    error handlers' lines. No request body may reach the log: such lines are cut to their
    first words, and a traceback keeps its types and frames but not its messages."""

    CUT = ("Invalid request signature", "Unhandled request", "A global middleware")
    ERRORS = (
        "Failed to run listener function",
        "Failed to run a middleware",
        "Failed to run an internal function",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return False
        message = record.getMessage()
        for start in self.CUT:
            if message.startswith(start):
                record.msg, record.args = f"{start} (request body not logged)", ()
        for start in self.ERRORS:
            if message.startswith(start):
                record.msg, record.args = f"{start} (error message not logged)", ()
        drop_exception_text(record)
        return True


def bolt_logger() -> logging.Logger:
    logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _NoBodies) for f in logger.filters):
        logger.addFilter(_NoBodies())
    return logger


def deps_of(app: App) -> Deps:
    return getattr(app, _DEPS_ATTR)


def build_deps(
    settings: Settings,
    *,
    client: WebClient | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    workflows: Sequence[Workflow] = WORKFLOWS,
) -> Deps:
    """The process's parts with every workflow (the command line and sweeps-only tools use
    this without a Bolt app)."""
    return deps_module.build_deps(settings, client=client, engine=engine, clock=clock, workflows=workflows)
