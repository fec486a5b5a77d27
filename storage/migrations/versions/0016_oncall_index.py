"""oncall: index cover grants by (user_id, until) for grants_of_user (the on-call person's App Home)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 15:12:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oncall_cover_grants", schema=None) as batch_op:
        batch_op.create_index("ix_oncall_cover_grants_user_until", ["user_id", "until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oncall_cover_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_oncall_cover_grants_user_until")
