"""The baselines for the latency benchmark: a Bolt app on the same gunicorn stack that
acknowledges the same commands and does nothing else, or, with BARE_REPLY=1, also answers
each one with a one-word reply to its `response_url` (Bolt's `respond`, after the ack).

The second is the floor for issue #12's done/s goal: it is the least any app must do to
complete a `/case show` (acknowledge it, then reach Slack with a reply) with no database, no
audit and no rendering. Its rate of replies on this machine bounds what ours can reach here."""

from __future__ import annotations

import os

from slack_bolt import App
from slack_sdk import WebClient

from bot.ids import Command
from bot.serve import serve_http


def build():
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    client = WebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])
    reply = os.environ.get("BARE_REPLY") == "1"
    for command in Command:
        app.command(command.value)(_ack_and_reply if reply else _ack)
    return SlackRequestHandler(app)


def _ack(ack) -> None:
    ack()


def _ack_and_reply(ack, respond) -> None:
    ack()
    respond(text="ok")


if __name__ == "__main__":
    serve_http(
        port=int(os.environ["PORT"]),
        workers=int(os.environ.get("WEB_WORKERS", "1")),
        threads=int(os.environ.get("WEB_THREADS", "8")),
        build=build,
        access_log=False,
    )
