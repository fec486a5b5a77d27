"""The one place where errors become what the user sees, and refusals become audit events.

Every listener runs its work inside `replying(...)`: a CareThreadError turns into an
ephemeral message saying what was wrong and how to do it right (and is audited with its
outcome); Slack being unreachable says so; a retried delivery is dropped quietly; anything
unexpected is logged with a reference the user can quote, so no request dies silently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from bot.auditlog import Outcome, Source
from bot.deps import Deps, open_unit
from bot.errors import BadInput, CareThreadError, Duplicate, FieldErrors
from bot.inbox import in_worker
from bot.slack import SlackUnavailable
from bot.unit import Actor, Unit

log = logging.getLogger(__name__)
Reply = Callable[[dict[str, Any]], None]
T = TypeVar("T")


@contextmanager
def replying(deps: Deps, actor: Actor, action: str, reply: Reply) -> Iterator[None]:
    try:
        yield
    except Duplicate:
        log.info("ignored a retried Slack delivery for %s", action)
    except CareThreadError as err:
        details: dict[str, Any] = {"error": type(err).__name__, "case_id": err.case_id}
        if getattr(err, "reason", None):
            details["reason"] = err.reason  # type: ignore[attr-defined]
        _safely(deps.record, actor, action, Outcome(err.outcome), **details)
        _safely(
            reply,
            deps.renderer.message("core/error", message=err.message, detail=err.detail, usage=err.usage),
        )
    except SlackUnavailable:
        _safely(deps.record, actor, action, Outcome.ERROR, error="slack_unavailable")
        _safely(
            reply,
            deps.renderer.message(
                "core/error",
                message="Slack did not answer in time, so nothing was opened. Please try again.",
                usage=None,
            ),
        )
    except Exception as exc:
        if in_worker() and _database_down(exc):
            raise  # nothing was saved: the inbox tries the request again when the database is back
        ref = uuid.uuid4().hex[:8]
        log.exception("unhandled error in %s (ref %s)", action, ref)
        _safely(deps.record, actor, action, Outcome.ERROR, error="internal", ref=ref)
        _safely(
            reply,
            deps.renderer.message(
                "core/error",
                message=f"Something went wrong on our side (ref `{ref}`). Please try again; if it keeps "
                "happening, tell your CareThread admin and quote the ref.",
                usage=None,
            ),
        )


def record_quietly(
    deps: Deps, actor: Actor, action: str, outcome: Outcome = Outcome.BAD_INPUT, **details: Any
) -> None:
    """Audit what was answered in the ack itself (a modal's field errors), in the request:
    a database that cannot take it must not turn the answer into an error."""
    _safely(deps.record, actor, action, outcome, **details)


def _database_down(exc: Exception) -> bool:
    """The database refused or dropped the connection (or stayed locked): worth retrying."""
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or type(exc).__name__ in ("OperationalError", "InterfaceError")
    )


def read_submission(
    deps: Deps,
    ack: Callable[..., Any],
    actor: Actor,
    action: str,
    read: Callable[[], T],
    *,
    fallback: str,
    case_id: int | None = None,
) -> T | None:
    """Read a submitted modal before acking it. Bad fields go back in the ack, all at once
    (`response_action="errors"`: the modal stays open with what was typed, nothing saved),
    and the refusal is audited the same way for every form: the action, bad_input and the
    block ids at fault (never what was typed). A BadInput that names no field is shown on
    `fallback`. Returns the values read (not yet acked: the caller saves the request to the
    inbox, which acks), or None when it answered errors."""
    try:
        value = read()
    except BadInput as err:
        errors = err.errors if isinstance(err, FieldErrors) else {err.field or fallback: err.message}
        ack(response_action="errors", errors=errors)
        record_quietly(deps, actor, action, fields=sorted(errors), case_id=err.case_id or case_id)
        return None
    return value


def _safely(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Last-ditch calls must not raise out of the listener."""
    try:
        fn(*args, **kwargs)
    except Exception:
        log.exception("could not report an error back to the user")


def dm(deps: Deps, user_id: str) -> Reply:
    """After a modal closes, or for a button in a DM, there is no response_url worth
    trusting: replies go to the user by DM, through the outbox."""

    def send(message: dict[str, Any]) -> None:
        _queue(
            deps,
            Source.MODAL,
            lambda unit: unit.post(channel=user_id, message=message, purpose="error_reply"),
        )

    return send


def in_channel(deps: Deps, user_id: str, channel: str | None) -> Reply:
    """A reply only `user_id` sees, where they clicked (ephemeral), or by DM if we cannot tell."""
    if not channel:
        return dm(deps, user_id)

    def send(message: dict[str, Any]) -> None:
        _queue(
            deps,
            Source.BUTTON,
            lambda unit: unit.ephemeral(
                channel=channel, user=user_id, message=message, purpose="error_reply"
            ),
        )

    return send


def where_clicked(deps: Deps, body: dict[str, Any], user_id: str) -> Reply:
    """A reply to a button click: ephemeral in the channel of the clicked message, or by DM."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return in_channel(deps, user_id, channel)


def ephemeral(deps: Deps, body: dict[str, Any], *, replace_original: bool = False) -> Reply:
    """A reply through the request's response_url, visible only to the person who asked;
    queued in the outbox, so it is retried (and goes by DM once the URL has expired)."""
    url = body.get("response_url")
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    if not url:
        return dm(deps, user)

    def send(message: dict[str, Any]) -> None:
        _queue(
            deps,
            Source.COMMAND,
            lambda unit: unit.respond(
                url=url, user=user, message=message, purpose="reply", replace_original=replace_original
            ),
        )

    return send


def _queue(deps: Deps, source: Source, queue: Callable[[Unit], object]) -> None:
    """Queue a reply in the unit open on this thread, so it commits with the work it reports
    (a crash between two commits would lose the reply to work that was done); with none
    open (an error reply, after the work's unit rolled back), in a unit of its own."""
    unit = open_unit()
    if unit is not None:
        queue(unit)
        return
    with deps.unit(Actor.app(source)) as own:
        queue(own)
