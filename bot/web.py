"""The WSGI application served in HTTP mode: Slack's endpoint behind its edge, and a health check.

The edge runs before Bolt and answers what Bolt should never see: a body over the size limit
gets 413 before it is read (or as soon as reading passes the limit), a request that is not
signed with the signing secret (or is older than five minutes) gets 401, and a signed body
that cannot be read (a broken chunked upload, bad UTF-8, bad JSON, a cut-off `payload`) or
is not shaped as Bolt reads it (a view that is not an object, actions that are not a list
of them...) gets 400. Nothing here, and nothing anywhere, logs any part of a request body.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context, parse_body
from sqlalchemy import text

from bot.factory import deps_of
from storage.db import snapshot_scope

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are far smaller
WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]


def wsgi_app(app: App, *, work_alive: Callable[[], bool] | None = None) -> WSGIApp:
    """`work_alive`: whether a work process is running (HTTP mode, bot/processes.py); the
    health check fails without one, since requests would be saved and never worked on."""
    slack = SlackRequestHandler(app, path=SLACK_PATH)
    deps = deps_of(app)
    engine = deps.engine
    secret = deps.settings.signing_secret.encode("utf-8")

    def application(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                # A read: on SQLite it must not wait for the write lock a busy (or stopped)
                # writer holds, or the check would hang instead of answering.
                with snapshot_scope(engine) as session:
                    session.execute(text("SELECT 1"))
            except Exception:
                log.error("health check: database unreachable")
                return _answer(start_response, "503 Service Unavailable", b"database unavailable\n")
            if work_alive is not None and not work_alive():
                log.error("health check: no work process is running (its heartbeat is stale)")
                return _answer(start_response, "503 Service Unavailable", b"work process not running\n")
            return _answer(start_response, "200 OK", b"ok\n")
        if path == SLACK_PATH and environ.get("REQUEST_METHOD") == "POST":
            refusal = _check(environ, secret)
            if refusal is not None:
                return _answer(start_response, refusal, b"")
        try:
            return slack(environ, start_response)
        except Exception as exc:  # never a traceback with a body in it, never a bare 500 page
            log.error("Slack request failed unexpectedly: %s", type(exc).__name__)
            return _answer(start_response, "500 Internal Server Error", b"")

    return application


def _check(environ: dict[str, Any], secret: bytes) -> str | None:
    """Read the body within the limit, verify its signature, make sure it parses. Returns
    the status line to refuse with, or None (the body is put back for Bolt to read)."""
    raw_length = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(raw_length) if raw_length else None
    except ValueError:
        return "400 Bad Request"
    if length is not None and (length < 0 or length > MAX_BODY_BYTES):
        return "413 Content Too Large"
    stream = environ.get("wsgi.input") or io.BytesIO()
    try:
        raw = stream.read(length) if length is not None else stream.read(MAX_BODY_BYTES + 1)
    except Exception:  # gunicorn's chunked reader quotes the bad bytes in what it raises:
        return "400 Bad Request"  # the exception is dropped here, never logged or re-raised
    if len(raw) > MAX_BODY_BYTES:
        return "413 Content Too Large"
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
    signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
    if not _signed(secret, raw, timestamp, signature):
        return "401 Unauthorized"
    try:
        body = parse_body(raw.decode("utf-8"), environ.get("CONTENT_TYPE"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        return "400 Bad Request"
    if not isinstance(body, dict) or not _shaped(body):
        return "400 Bad Request"
    return None


def _action_list(actions: Any) -> bool:
    return (
        isinstance(actions, list)
        and len(actions) > 0
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    )


def _has_str(value: Any, key: str) -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), str)


# What Bolt's listener matchers index into, by payload type: without it they raise, and the
# request would get a 500 instead of a 400. Types not listed reach no listener (Bolt: 404).
_SHAPES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "view_submission": lambda b: _has_str(b.get("view"), "callback_id"),
    "view_closed": lambda b: _has_str(b.get("view"), "callback_id"),
    "block_actions": lambda b: _action_list(b.get("actions")),
    "block_suggestion": lambda b: _has_str(b, "action_id") and _has_str(b, "block_id"),
    "event_callback": lambda b: _has_str(b.get("event"), "type"),
    "url_verification": lambda b: _has_str(b, "challenge"),
}


def _shaped(body: dict[str, Any]) -> bool:
    """Whether a parsed body has the shape Bolt needs: a slash command's name, each payload
    type's parts (`_SHAPES`), and what Bolt's own context reads (ids, channel, authorizations)."""
    if "command" in body and not (isinstance(body["command"], str) and body["command"].startswith("/")):
        return False
    kind = body.get("type")
    if isinstance(kind, str) and kind in _SHAPES and not _SHAPES[kind](body):
        return False
    try:
        build_context(BoltContext(), body)  # what Bolt does first with every request
    except Exception:
        return False
    return True


def _signed(secret: bytes, raw: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature over the raw bytes, within five minutes. (slack_sdk's verifier
    decodes the body first and raises on bad UTF-8 or a non-numeric timestamp.)"""
    if not timestamp.isascii() or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace"))


def _answer(start_response: Callable, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
