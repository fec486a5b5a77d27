"""relapse-prevention plan on reviews, psychiatric consultation and its minutes (issue 14)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 13:14:59
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("requested_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("reason_enc", sa.Text(), nullable=True),
        sa.Column("consultants", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("configured", sa.Boolean(), nullable=False),
        sa.Column("request_outbox_id", sa.Integer(), nullable=True),
        sa.Column("recommendation_outbox_id", sa.Integer(), nullable=True),
        sa.Column("recommendation_enc", sa.Text(), nullable=True),
        sa.Column("recommended_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("recommended_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("response_note_enc", sa.Text(), nullable=True),
        sa.Column("responded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("responded_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("remind_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_outbox_id"],
            ["outbox.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_outbox_id"],
            ["outbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consults", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consults_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_consults_remind_due", ["reminded_at", "remind_at"], unique=False)
        batch_op.create_index(
            "uq_consults_one_open",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('requested', 'recommended')"),
            postgresql_where=sa.text("status IN ('requested', 'recommended')"),
        )

    op.create_table(
        "consult_minutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("consult_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("logged_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consults.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consult_minutes", schema=None) as batch_op:
        batch_op.create_index("ix_consult_minutes_date", ["on_date", "case_id"], unique=False)

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relapse_plan_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the
    # table, which SQLite refuses while other tables' rows reference it.
    op.drop_column("reviews", "relapse_plan_enc")

    with op.batch_alter_table("consult_minutes", schema=None) as batch_op:
        batch_op.drop_index("ix_consult_minutes_date")

    op.drop_table("consult_minutes")
    with op.batch_alter_table("consults", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_consults_one_open",
            sqlite_where=sa.text("status IN ('requested', 'recommended')"),
            postgresql_where=sa.text("status IN ('requested', 'recommended')"),
        )
        batch_op.drop_index("ix_consults_remind_due")
        batch_op.drop_index(batch_op.f("ix_consults_case_id"))

    op.drop_table("consults")
