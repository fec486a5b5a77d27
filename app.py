"""CareThread entry point: load settings, build the app, start the scheduler, serve.

SLACK_APP_TOKEN set: Socket Mode. Otherwise HTTP on PORT with gunicorn (POST /slack/events,
GET /healthz). Settings come from the environment and .env; see README.md.
"""

from __future__ import annotations

import logging
import os
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.doorbell import Doorbell
from bot.logsafe import NoExceptionText
from bot.processes import Heartbeat

log = logging.getLogger("carethread")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # every logger's tracebacks, without messages
        handler.addFilter(NoExceptionText())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.workflows import WORKFLOWS

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per sweep
    try:
        settings = load_settings(workflows=WORKFLOWS)
        _check_port(settings)
        _preflight(settings)
    except ConfigError as err:
        print(f"carethread: {err}", file=sys.stderr)
        return 2
    log.info("%s", startup_line(settings))
    if settings.key_file is not None:
        log.warning(
            "Encryption and audit keys are in %s. Back this file up: without it the case data "
            "cannot be read.",
            settings.key_file,
        )
    _warn_if_unanchored(settings)
    if settings.socket_mode:
        return _serve_socket_mode(settings)
    return _serve_http(settings)


def startup_line(settings: Settings) -> str:
    """The one start-up line: how the app talks to Slack, where, which database (its
    password masked) and how much work it runs at once."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL already failed preflight; never echo it raw
        database = "(unreadable DATABASE_URL)"
    from bot.serve import bind_address

    mode = "Socket Mode" if settings.socket_mode else f"HTTP on {bind_address(settings.host, settings.port)}"
    web = (
        ""
        if settings.socket_mode
        else f"{settings.web_workers} web worker(s) x {settings.web_threads} threads, "
        f"{settings.work_processes} work process(es) x "
    )
    return (
        f"CareThread starting: {mode} · Slack API {settings.slack_api_url} · database {database} · "
        f"workers: {web}{settings.work_threads} request worker(s), outbox relay, sweep every "
        f"{settings.sweep_seconds}s"
    )


def _warn_if_unanchored(settings: Settings) -> None:
    """Without an anchor outside the database, a removed tail of the audit chain (or all of
    it) verifies: say so at every start, where an operator reads it."""
    from bot.audit.settings import AuditSettings

    if settings.section(AuditSettings).anchor_dir is None:
        log.warning(
            "CARETHREAD_AUDIT_ANCHOR_DIR is not set: the audit chain is anchored only in its own "
            "database, so deleting its newest events would go unnoticed (docs/audit.md, Anchoring)."
        )
    elif not settings.admin_channel:
        log.warning(
            "CARETHREAD_ADMIN_CHANNEL is not set: the audit anchor's daily checkpoint is not posted "
            "to Slack, so the anchor file is its only copy (docs/audit.md, Anchoring)."
        )


def _check_port(settings: Settings) -> None:
    from bot.serve import port_in_use

    if not settings.socket_mode and port_in_use(settings.host, settings.port):
        raise ConfigError(
            f"Port {settings.port} on {settings.host} is already in use (is CareThread already "
            "running?). Stop what holds it or set PORT to a free port."
        )


def _preflight(settings: Settings) -> None:
    """Build the whole app once before serving: migrations, the key check, every workflow's
    settings and Slack's auth.test. Whatever is wrong stops start-up here with one clear
    line, instead of a traceback in each gunicorn worker."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.factory import create_app, deps_of

    try:
        app = create_app(settings)
    except ConfigError:
        raise
    except SQLAlchemyError as exc:
        raise ConfigError(f"Cannot prepare the database at DATABASE_URL: {exc}") from exc
    except Exception as exc:
        raise ConfigError(
            f"Cannot start: {exc}. Check SLACK_BOT_TOKEN and that SLACK_API_URL ({settings.slack_api_url}) "
            "is reachable."
        ) from exc
    deps_of(app).engine.dispose()


def start_background(app, doorbell: Doorbell | None = None):
    """The inbox workers, the outbox relay thread and the sweep scheduler: in the work
    process (HTTP mode, woken by `doorbell`) or beside Socket Mode. Returns what stops them
    (see `stop_background`)."""
    from bot.factory import deps_of
    from bot.scheduler import start_scheduler

    deps = deps_of(app)
    deps.inbox.start(deps, doorbell=doorbell)
    deps.relay.start()
    return start_scheduler(deps)


def stop_background(app, scheduler) -> None:
    """On SIGTERM: no new sweeps, finish the requests and messages in hand, and release
    every inbox and outbox claim this process holds, so another replica takes them at once
    instead of after their lease."""
    from bot.factory import deps_of

    deps = deps_of(app)
    scheduler.shutdown(wait=True)
    inbox_released = deps.inbox.stop()
    outbox_released = deps.relay.stop()
    log.info(
        "CareThread work process stopped; released %s request(s) and %s message(s) for other replicas",
        inbox_released,
        outbox_released,
    )


def _serve_socket_mode(settings: Settings) -> int:
    """Socket Mode: one process until SIGTERM or SIGINT, then the connection is closed and
    whatever it holds is finished or released (stop_background). Not SocketModeHandler.start():
    it waits in a bare Event().wait() with no SIGTERM handler, so SIGTERM ended the process
    there and its claims waited out their lease."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.factory import create_app
    from bot.processes import stop_on_signal, wait_for_stop

    stop = stop_on_signal()
    app = create_app(settings)
    scheduler = start_background(app)
    handler = SocketModeHandler(app, settings.app_token)
    try:
        handler.connect()
        log.info("CareThread connected to Slack in Socket Mode")
        wait_for_stop(stop)
    finally:
        try:
            handler.close()  # no new requests while the rest stops
        except Exception:
            log.exception("could not close the Socket Mode connection")
        stop_background(app, scheduler)
    return 0


def _serve_http(settings: Settings) -> int:
    """gunicorn's web workers save and acknowledge; work processes do the work
    (bot/processes.py), woken through one doorbell made here, before the forks."""
    from bot.doorbell import Doorbell
    from bot.processes import settle_heap, supervise
    from bot.serve import serve_http

    doorbell = Doorbell()
    heartbeat = Heartbeat(settings.data_dir / "work-heartbeat")

    def build():
        # Runs in each web worker after gunicorn's fork: its own engine; no workers, relay
        # or scheduler: what it saves, the work process does.
        from bot.factory import create_app, deps_of
        from bot.web import wsgi_app
        from storage.db import never_checkpoint

        app = create_app(settings)
        deps = deps_of(app)
        deps.inbox.hand_over(doorbell)
        deps.relay.hand_over(doorbell)
        never_checkpoint(deps.engine)  # on SQLite, the work process's commits do
        application = wsgi_app(app, work_alive=heartbeat.fresh)
        settle_heap()
        return application

    def web() -> int:
        serve_http(
            host=settings.host,
            port=settings.port,
            workers=settings.web_workers,
            threads=settings.web_threads,
            build=build,
            access_log=settings.access_log,
        )
        return 0

    def work(number: int) -> int:
        return _work_process(settings, doorbell, heartbeat, number)

    return supervise(web=web, work=work, work_processes=settings.work_processes)


def _work_process(settings: Settings, doorbell: Doorbell, heartbeat: Heartbeat, number: int) -> int:
    """One work process: inbox workers, relay and sweeps until SIGTERM, then whatever it
    holds is finished or released (stop_background)."""
    from bot.factory import create_app, deps_of
    from bot.processes import settle_heap, stop_on_signal, wait_for_stop
    from storage.db import defer_writes

    stop = stop_on_signal()
    if settings.work_niceness:
        os.nice(settings.work_niceness)  # acks first (bot/processes.py); raising it needs no privilege
    app = create_app(settings)
    defer_writes(deps_of(app).engine)  # on SQLite, a waiting ack writes first
    settle_heap()
    scheduler = start_background(app, doorbell)
    heartbeat.keep_beating(stop)
    log.debug("CareThread work process %s ready", number)
    wait_for_stop(stop)
    stop_background(app, scheduler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
