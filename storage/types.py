"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Table
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import SQLModel


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike.

    SQLite has no time zones and PostgreSQL's would return aware values: without this the
    same comparison would behave differently on the two databases.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utc_column(nullable: bool = False, index: bool = False) -> Column:
    """A UTC timestamp column; every table's datetimes use it."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for queries and indexes on plain columns. SQLModel
    sets `__table__` when the class is created but does not declare it for type checkers."""
    return model.__table__  # type: ignore[attr-defined]
