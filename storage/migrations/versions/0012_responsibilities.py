"""who does what on a case (split-treatment responsibilities), what a handoff carried (issue 15)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_responsibilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("duty", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("set_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "duty", name="uq_case_responsibilities_case_duty"),
    )
    with op.batch_alter_table("case_responsibilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_responsibilities_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duties", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the
    # table, which SQLite refuses while other tables' rows reference it.
    op.drop_column("handoffs", "duties")
    with op.batch_alter_table("case_responsibilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_responsibilities_case_id"))
    op.drop_table("case_responsibilities")
