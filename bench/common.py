"""Shared pieces of the benchmarks: a throwaway app environment and table printing."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.config import Settings, load_settings
from bot.deps import Deps
from bot.factory import build_deps
from bot.workflows import WORKFLOWS
from devtools.process import free_port
from devtools.standin import StandInSlack
from storage.db import make_engine

SECRET = "bench-signing-secret"
ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(tmp: Path) -> str:
    """A SQLite file in a temporary directory, or, with BENCH_DATABASE_URL set (PostgreSQL),
    a fresh schema in that database, so every run starts empty."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'bench.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    _SCHEMAS.append(schema)
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


_SCHEMAS: list[str] = []  # made by this run, dropped at its end (drop_schemas)


def drop_schemas() -> None:
    """The PostgreSQL schemas this run made (a million audit events each, some of them), so
    runs do not pile up in BENCH_DATABASE_URL's database."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not _SCHEMAS:
        return
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            for schema in _SCHEMAS:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
    _SCHEMAS.clear()


class RemoteStandIn:
    """The stand-in Slack in a process of its own (`python -m devtools.standin`): serving
    Slack's side then takes neither the load generator's GIL nor, through it, the time the
    benchmark measures. Counted through its `/calls/count`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.api_url = self.url + "api/"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.standin", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.count("auth.test")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise RuntimeError("the stand-in Slack did not start") from None
                time.sleep(0.1)

    def count(self, method: str) -> int:
        with urllib.request.urlopen(f"{self.url}calls/count?method={method}", timeout=30) as response:
            return int(json.load(response)["count"])

    def wait_for(self, method: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count(method) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {count} call(s) to {method}, got {self.count(method)}")
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def settings_for(tmp: Path, slack: StandInSlack | RemoteStandIn, **env: str) -> Settings:
    base = {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "CARETHREAD_DATA_DIR": str(tmp / "data"),
    }
    base.update(env)
    if "DATABASE_URL" not in base:  # a new one (on PostgreSQL, a new schema) unless given
        base["DATABASE_URL"] = bench_database_url(tmp)
    return load_settings(base, dotenv_path=tmp / "none.env", workflows=WORKFLOWS)


def deps_for(
    tmp: Path, slack: StandInSlack | RemoteStandIn, clock: Clock | None = None, **env: str
) -> tuple[Deps, Engine]:
    settings = settings_for(tmp, slack, **env)
    engine = make_engine(settings.database_url)
    client = WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)
    return build_deps(settings, client=client, engine=engine, clock=clock), engine


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="carethread-bench-"))


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        f"\n{title}",
        "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
