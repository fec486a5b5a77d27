"""The worker side's cost of one request: from the stored inbox row to the reply at Slack.

Issue #12 wants `/case show` replies completed at a high rate; the acks are cheap, the work
after them is what limits it. This measures that work alone, on one thread, with nothing
else running: N signed requests are saved to the inbox through the real app (its WSGI
endpoint, as Slack sends them), then `Inbox.process_pending` works them off and the relay
delivers whatever they queued. The stand-in Slack runs in its own process, so its CPU is
not counted; "cpu ms" is this process's CPU per request, "wall ms" includes waiting for
the stand-in's answers. Statements and transactions are counted per request.

`python -m bench.work_cost [N] [--profile]` prints the table (and a cProfile of each
round with --profile); `BENCH_ONLY=work python -m bench` runs it with the rest.
"""

from __future__ import annotations

import cProfile
import logging
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import event

from bench.common import SECRET, RemoteStandIn, bench_database_url, table, temp_dir
from bot.auditlog import Source
from bot.cases import service as cases
from bot.config import load_settings
from bot.factory import create_app, deps_of
from bot.unit import Actor
from bot.web import wsgi_app
from bot.workflows import WORKFLOWS
from devtools import slackreq
from storage.cases import Role
from storage.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
USER = "U0BENCH"
CHANNEL = "C0BENCH"
# The request, and what Slack sees once its work is done (bench/ack_latency.py's RESULT_CALL).
# `/case help` reads nothing and answers fixed text: its cost is the durable path's own
# (inbox claim, dispatch, reply through the outbox and relay, request marked done).
ROUNDS = (
    ("/case", "show C-1", "response_url"),
    ("/case", "help", "response_url"),
    ("/sideeffect", "C-1", "views.open"),
)


class _Counts:
    """SQL statements and transactions the engine ran while counting."""

    def __init__(self, engine: Any) -> None:
        self.statements = self.transactions = 0
        self.on = False
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

    def _statement(self, *_args: Any) -> None:
        self.statements += self.on

    def _begin(self, *_args: Any) -> None:
        self.transactions += self.on


def _post(wsgi: Any, request: slackreq.SignedRequest) -> int:
    environ = slackreq.wsgi_environ("POST", "/slack/events", request.body.encode(), request.headers)
    status: list[int] = []
    b"".join(wsgi(environ, lambda s, _h, _e=None: status.append(int(s.split()[0]))))
    return status[0]


def run(requests: int = 500, profile: bool = False) -> str:
    logging.getLogger().setLevel(logging.WARNING)
    slack = RemoteStandIn()
    tmp = temp_dir()
    url = slack.url
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"{url}api/",
            "CARETHREAD_DATA_DIR": str(tmp / "data"),
            "DATABASE_URL": bench_database_url(tmp),
        },
        dotenv_path=tmp / "none.env",
        workflows=WORKFLOWS,
    )
    engine = make_engine(settings.database_url)
    client = WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)
    rows, profiles = [], []
    try:
        app = create_app(settings, client=client, engine=engine)
        deps = deps_of(app)
        wsgi = wsgi_app(app)
        with deps.unit(Actor(USER, slackreq.TEAM, Source.CLI)) as unit:
            cases.create_case(unit, label="Bench Case", role=Role.PRESCRIBER, channel=CHANNEL)
        while deps.relay.deliver_due():
            pass
        counts = _Counts(engine)
        for command, text, outcome in ROUNDS:
            for n in range(requests + 20):  # the first 20: a warm-up round, not measured
                signed = slackreq.slash_command(
                    SECRET,
                    command=command,
                    text=text,
                    user=USER,
                    channel=CHANNEL,
                    response_url=f"{url}respond/bench{n}",
                )
                if _post(wsgi, signed) != 200:
                    raise RuntimeError("the app did not accept a request")
                if n == 19:
                    deps.inbox.process_pending(deps)
                    while deps.relay.deliver_due():
                        pass
            before = slack.count(outcome)
            profiler = cProfile.Profile() if profile else None
            counts.statements = counts.transactions = 0
            counts.on = True
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            done = deps.inbox.process_pending(deps)
            while deps.relay.deliver_due():
                pass
            if profiler:
                profiler.disable()
                profiles.append((command, profiler))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            counts.on = False
            reached = slack.count(outcome) - before
            if done != requests or reached != requests:
                raise RuntimeError(f"{command}: processed {done}, {reached} {outcome} of {requests}")
            rows.append(
                [
                    f"{command} {text}",
                    requests,
                    cpu / requests * 1000,
                    wall / requests * 1000,
                    requests / wall,
                    counts.statements / requests,
                    counts.transactions / requests,
                ]
            )
    finally:
        slack.close()
        engine.dispose()
    result = table(
        "Worker cost per request, stored inbox row to the reply at Slack (one thread)",
        ["request", "n", "cpu ms", "wall ms", "done/s", "statements", "transactions"],
        rows,
    )
    for command, profiler in profiles:
        path = tmp / f"work_cost_{command.strip('/')}.prof"
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.dump_stats(path)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        result += f"\n(profile of the {command} round: {path})"
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(run(int(args[0]) if args else 500, profile="--profile" in sys.argv))
