"""inbox: a claim priority (0: the request opens a form), and an index the work process's
claims follow in order: (status, priority, id) instead of (status, lease_until, id)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1"))
        batch_op.drop_index("ix_inbox_claimable")
        batch_op.create_index("ix_inbox_claim_order", ["status", "priority", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_claim_order")
        batch_op.create_index("ix_inbox_claimable", ["status", "lease_until", "id"], unique=False)
        batch_op.drop_column("priority")
