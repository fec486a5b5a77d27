"""roles, consent on record, a case's own channel (issue 11)

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("roles", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("organisations_enc", sa.Text(), nullable=True),
        sa.Column("part2", sa.Boolean(), nullable=False),
        sa.Column("note_enc", sa.Text(), nullable=True),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recorded_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("remind_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_consents_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_consents_remind_due", ["reminded_at", "remind_at"], unique=False)
    op.create_table(
        "case_own_channels",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
        sa.UniqueConstraint("channel_id"),
    )


def downgrade() -> None:
    op.drop_table("case_own_channels")
    with op.batch_alter_table("case_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_case_consents_remind_due")
        batch_op.drop_index(batch_op.f("ix_case_consents_case_id"))
    op.drop_table("case_consents")
