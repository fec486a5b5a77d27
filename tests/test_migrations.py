"""The one models-versus-migrations check: the Alembic chain builds exactly the schema every table
module declares (storage.schema), and walks down to nothing and back up again, on SQLite and
PostgreSQL (the `engine` fixture runs each test on both)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage import migrate
from storage.schema import TABLE_MODULES, metadata
from tests.support import ALICE, care_team


def schema_diff(engine: Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def downgrade(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


#: Indexes that sweeps and lookups rely on (table -> index names): if one vanished from both the
#: model and the migration, the models-versus-migrations comparison would still pass.
RELIED_ON_INDEXES = {
    "outbox": {"ix_outbox_result"},  # thread events find their case by the card's ts
    "side_effect_reports": {"ix_side_effect_reports_due"},
    "review_schedules": {"ix_review_schedules_due"},
    "review_nudges": {"ix_review_nudges_due"},
    "reviews": {"uq_reviews_one_open"},
}


def modelled_tables() -> set[str]:
    """The tables the modules listed in storage.schema define, found by walking their classes."""
    return {
        value.__table__.name
        for module in TABLE_MODULES
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, SQLModel)
        and value.__module__ == module.__name__
        and hasattr(value, "__table__")
    }


def test_migrations_build_exactly_the_modelled_schema_down_to_base_and_up_again(engine):
    assert modelled_tables() == set(metadata.tables)  # no table module missing from storage.schema

    migrate.upgrade(engine)
    assert schema_diff(engine) == []  # columns, types, nullability, indexes, uniques, foreign keys
    assert tables(engine) == set(metadata.tables)
    for table, names in RELIED_ON_INDEXES.items():
        assert names <= {index["name"] for index in inspect(engine).get_indexes(table)}, table

    downgrade(engine, "base")
    assert tables(engine) == set()  # every revision's downgrade removes what its upgrade made

    migrate.upgrade(engine)
    assert schema_diff(engine) == []
    assert tables(engine) == set(metadata.tables)


def test_at_most_one_open_review_per_case_is_enforced_by_the_database(harness):
    """Autogenerate compares an index's columns, not a partial index's WHERE: check that the
    migrated uq_reviews_one_open is unique among open reviews only."""
    case_id = care_team(harness, {ALICE: "prescriber"})
    insert = text(
        "INSERT INTO reviews (case_id, status, trigger, due_at, started_at, started_by)"
        " VALUES (:case_id, :status, 'manual', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'U0ALICE')"
    )
    with harness.engine.begin() as connection:
        connection.execute(insert, {"case_id": case_id, "status": "closed"})
        connection.execute(insert, {"case_id": case_id, "status": "closed"})
        connection.execute(insert, {"case_id": case_id, "status": "open"})
    with pytest.raises(IntegrityError), harness.engine.begin() as connection:
        connection.execute(insert, {"case_id": case_id, "status": "open"})
