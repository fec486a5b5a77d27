"""Fixtures only: a stand-in Slack Web API, a fresh database per test (SQLite always, PostgreSQL
too when TEST_DATABASE_URL is set), and harnesses (tests/support.py) on them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from devtools.standin import StandInSlack
from storage.db import make_engine
from tests.support import TEST_DATABASE_URL, Harness, make_settings

BACKENDS = ["sqlite", *(["postgres"] if TEST_DATABASE_URL else [])]


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandInSlack]:
    server = StandInSlack().serve()
    yield server
    server.close()


# Labels, medication names, symptoms and notes the tests type in. None may reach the `text` of
# any message (what phones show in notifications), ephemeral ones and replies included.
CLINICAL_TEST_STRINGS = tuple(
    s.casefold()
    for s in (
        *("Blue Heron", "Grey Owl", "Red Fox", "Persistent Pelican", "Lone Wolf", "Gunicorn Gull"),
        *("Very Private", "Secret Heron", "Green Toad", "Red Kite", "Secret Label"),
        *("sertraline", "lithium", "lamotrigine", "quetiapine", "clozapine", "bupropion"),
        *("nausea", "jaw clenching", "Vomited twice", "Mid-thirties", "Read back: watcher"),
    )
)
NOTIFYING_CALLS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})


@pytest.fixture(autouse=True)
def no_clinical_detail_in_notification_text(request) -> Iterator[None]:
    """After every test that talked to the stand-in Slack: no message's top-level `text`
    carried a label, medication name, symptom or note."""
    yield
    if "slack" not in request.fixturenames:
        return
    server: StandInSlack = request.getfixturevalue("standin_server")
    leaks = [
        (call.method, text)
        for call in list(server.calls)
        if call.method in NOTIFYING_CALLS
        and (text := str(call.args.get("text") or ""))
        and any(word in text.casefold() for word in CLINICAL_TEST_STRINGS)
    ]
    if leaks:
        pytest.fail(f"clinical detail in notification text: {leaks[:5]}")


@pytest.fixture
def slack(standin_server: StandInSlack) -> StandInSlack:
    standin_server.reset()
    standin_server.users.clear()
    standin_server.rate_limit_per_channel = None
    return standin_server


def _postgres_engine(schema: str) -> Engine:
    url = TEST_DATABASE_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture(params=BACKENDS)
def db_url_and_engine(request, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database nobody else uses: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'carethread.db'}"
        engine = make_engine(url)
        yield url, engine
        engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _postgres_engine("public")
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = _postgres_engine(schema)
    yield f"{TEST_DATABASE_URL}?options=-csearch_path%3D{schema}", engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url_and_engine) -> Engine:
    return db_url_and_engine[1]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def harness(tmp_path: Path, engine: Engine, slack: StandInSlack, clock: FrozenClock) -> Iterator[Harness]:
    h = Harness(make_settings(tmp_path, slack), engine, slack, clock)
    yield h
    h.close()


@pytest.fixture
def make_harness(
    tmp_path: Path, engine: Engine, slack: StandInSlack, clock: FrozenClock
) -> Iterator[Callable[..., Harness]]:
    """Another app on the same database and stand-in Slack, with settings from `env` (closed at
    teardown; a test may close one earlier to play a restart)."""
    built: list[Harness] = []

    def build(**env: str) -> Harness:
        built.append(Harness(make_settings(tmp_path, slack, **env), engine, slack, clock))
        return built[-1]

    yield build
    for h in built:
        h.close()
