"""The baseline for the latency benchmark: a Bolt app on the same gunicorn stack that
acknowledges the same commands and does nothing else."""

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
    for command in Command:
        app.command(command.value)(lambda ack: ack())
    return SlackRequestHandler(app)


if __name__ == "__main__":
    serve_http(
        port=int(os.environ["PORT"]),
        workers=int(os.environ.get("WEB_WORKERS", "1")),
        threads=int(os.environ.get("WEB_THREADS", "8")),
        build=build,
        access_log=False,
    )
