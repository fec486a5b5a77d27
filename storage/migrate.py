"""Apply Alembic migrations: called at start-up, so a new deploy upgrades its own schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


MIGRATION_LOCK = 0x0CA7E7  # any constant shared by every replica


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Replicas starting together on PostgreSQL take turns
    (an advisory lock held for the transaction), so the second finds the work done."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
