"""audience: home channels, their members, each case's open/restricted state; outbox reader

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("is_ext_shared", sa.Boolean(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("members_checked_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channel_members",
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.PrimaryKeyConstraint("channel_id", "user_id"),
    )
    op.create_table(
        "case_audience",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("outsiders", sa.Text(), nullable=False),
        sa.Column("changed_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reader", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("screened", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.create_index("ix_outbox_case_reader", ["case_id", "reader"], unique=False)
    # Existing DMs and ephemerals learn their reader, so the send-time check covers them too.
    outbox = sa.table(
        "outbox",
        sa.column("reader", sa.String),
        sa.column("channel", sa.String),
        sa.column("method", sa.String),
    )
    op.execute(
        outbox.update()
        .where(outbox.c.method == "chat.postMessage")
        .where(sa.or_(outbox.c.channel.like("U%"), outbox.c.channel.like("W%")))
        .values(reader=outbox.c.channel)
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_case_reader")
        batch_op.drop_column("screened")
        batch_op.drop_column("reader")
    op.drop_table("case_audience")
    op.drop_table("channel_members")
    op.drop_table("channels")
