"""Requests as Slack sends them: bodies shaped like Slack's, signed with the signing secret.

Used by the tests, the benchmark, the demo sandbox and `python -m devtools.send` to drive a
running app. Trigger, view and event ids are unique across processes (a uuid in each), as
Slack's are: the app de-duplicates retries by them in its database, so ids counted from 1 in
every process made a second run's requests look like retries of the first run's and be dropped.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

TEAM = "T0CLINIC"


def unique_id() -> str:
    """A fresh id part, unique across processes and runs."""
    return uuid.uuid4().hex


def _action_ts() -> str:
    return f"{time.time():.6f}"


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str]


def sign(
    secret: str,
    body: str,
    *,
    timestamp: int | None = None,
    content_type: str,
    extra_headers: dict[str, str] | None = None,
) -> SignedRequest:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # slack_sdk returns None only for a missing timestamp or body
        raise ValueError("cannot sign a request without a timestamp and a body")
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        **(extra_headers or {}),
    }
    return SignedRequest(body, headers)


def slash_command(
    secret: str,
    *,
    command: str,
    text: str,
    user: str,
    channel: str = "C0CARE",
    response_url: str = "http://127.0.0.1:9/respond/x",
    timestamp: int | None = None,
    trigger_id: str | None = None,
    channel_name: str | None = None,
    user_name: str | None = None,
) -> SignedRequest:
    body = urlencode(
        {
            "token": "legacy-unused",
            "team_id": TEAM,
            "team_domain": "clinic",
            "channel_id": channel,
            "channel_name": channel_name or ("care-team" if channel.startswith("C") else "directmessage"),
            "user_id": user,
            "user_name": user_name or user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CARE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or f"{unique_id()}.trigger",
        }
    )
    return sign(secret, body, timestamp=timestamp, content_type="application/x-www-form-urlencoded")


def interaction(secret: str, payload: dict[str, Any], timestamp: int | None = None) -> SignedRequest:
    """Any interaction payload (block_actions, view_submission, view_closed), signed."""
    return _interaction(secret, payload, timestamp)


def _interaction(secret: str, payload: dict[str, Any], timestamp: int | None) -> SignedRequest:
    body = urlencode({"payload": json.dumps(payload)})
    return sign(secret, body, timestamp=timestamp, content_type="application/x-www-form-urlencoded")


def block_action(
    secret: str,
    *,
    user: str,
    action_id: str,
    value: str = "",
    block_id: str = "b",
    channel: str | None = "C0CARE",
    message_ts: str | None = "1700000001.000100",
    view: dict[str, Any] | None = None,
    timestamp: int | None = None,
    response_url: str | None = "http://127.0.0.1:9/respond/x",
) -> SignedRequest:
    """A button click. `view` puts it in a modal; `response_url=None` leaves that out, as
    Slack does for a button in a modal."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "clinic"},
        "user": {"id": user, "team_id": TEAM, "username": user.lower()},
        "api_app_id": "A0CARE",
        "trigger_id": f"{unique_id()}.trigger",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": _action_ts(),
            }
        ],
    }
    if response_url is not None:
        payload["response_url"] = response_url
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = view
    else:
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
        payload["channel"] = {"id": channel}
        payload["message"] = {"ts": message_ts, "text": ""}
    return _interaction(secret, payload, timestamp)


def view_submission(
    secret: str,
    *,
    user: str,
    callback_id: str,
    values: dict[str, dict[str, Any]],
    private_metadata: str = "",
    view_id: str | None = None,
    timestamp: int | None = None,
) -> SignedRequest:
    """`values` maps block_id -> the element state under action_id "value"."""
    n = unique_id()
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "clinic"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0CARE",
        "trigger_id": f"{unique_id()}.trigger",
        "view": {
            "id": view_id or f"VSUB{n[:12].upper()}",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": {block: {"value": state} for block, state in values.items()}},
            "hash": f"{n}.hash",
        },
    }
    return _interaction(secret, payload, timestamp)


def event_callback(
    secret: str,
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    retry_num: int | None = None,
    timestamp: int | None = None,
) -> SignedRequest:
    body = json.dumps(
        {
            "token": "legacy-unused",
            "team_id": TEAM,
            "api_app_id": "A0CARE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{unique_id()[:16].upper()}",
            "event_time": int(time.time()),
        }
    )
    extra = (
        {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else None
    )
    return sign(secret, body, timestamp=timestamp, content_type="application/json", extra_headers=extra)


# Values for view_submission, shaped like Slack's element state.
def text_value(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def select_value(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": None if value is None else {"value": value}}


def checkboxes_value(values: list[str]) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}


def users_value(users: list[str]) -> dict[str, Any]:
    return {"type": "multi_users_select", "selected_users": users}


def date_value(value: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": value}


def wsgi_environ(
    method: str, path: str, body: bytes, headers: dict[str, str], *, length: str | None = None
) -> dict[str, Any]:
    """The WSGI environ a server builds for this request, to call the app without one (tests,
    benchmarks). `length` overrides Content-Length ("" = none, as with a chunked upload)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ["CONTENT_TYPE" if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ
