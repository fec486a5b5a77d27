"""The review tables as the migration creates them match the models, indexes included."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage import migrate

REVIEW_TABLES = {"review_schedules", "reviews", "review_updates", "review_nudges", "review_digests"}


def test_migration_matches_the_review_models(engine):
    migrate.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diff if any(t in str(d) for t in REVIEW_TABLES)] == []
    indexes = {ix["name"] for t in REVIEW_TABLES for ix in inspect(engine).get_indexes(t)}
    assert {"ix_review_schedules_due", "ix_review_nudges_due", "uq_reviews_one_open"} <= indexes
