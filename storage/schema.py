"""Every table module, in one list, so SQLModel.metadata holds the whole schema wherever it
is needed (Alembic's environment, the models-versus-migrations test).

SQLAlchemy learns of a table when its class is defined, so the modules must be imported;
this is the one place that does it on purpose. A workflow with tables adds a line here.
"""

from __future__ import annotations

from types import ModuleType

from sqlmodel import SQLModel

from storage import (
    adherence,
    audience,
    audit,
    cases,
    consults,
    core,
    handoffs,
    inbox,
    measures,
    medications,
    oncall,
    reviews,
    safety,
    side_effects,
)

TABLE_MODULES: tuple[ModuleType, ...] = (
    core,
    inbox,
    cases,
    audience,
    side_effects,
    reviews,
    handoffs,
    medications,
    audit,
    adherence,
    consults,
    measures,
    oncall,
    safety,
)
metadata = SQLModel.metadata
