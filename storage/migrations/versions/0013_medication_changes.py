"""medication changes: history, who has seen each change, the interaction check; the kind of
each medication on a case's list; side-effect rechecks after a plan that changes a medication
(issue 13)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("medications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="prescription",
            )
        )
    op.create_table(
        "medication_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("medication_id", sa.Integer(), nullable=False),
        sa.Column("new_medication_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("before_enc", sa.Text(), nullable=True),
        sa.Column("after_enc", sa.Text(), nullable=True),
        sa.Column("reason_enc", sa.Text(), nullable=True),
        sa.Column("targets_enc", sa.Text(), nullable=True),
        sa.Column("watch_enc", sa.Text(), nullable=True),
        sa.Column("taper_enc", sa.Text(), nullable=True),
        sa.Column("remeasure_enc", sa.Text(), nullable=True),
        sa.Column("side_effect_report_id", sa.Integer(), nullable=True),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("changed_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("note_outbox_id", sa.Integer(), nullable=True),
        sa.Column("interaction", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("interaction_note_enc", sa.Text(), nullable=True),
        sa.Column("interaction_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("interaction_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["medication_id"], ["medications.id"]),
        sa.ForeignKeyConstraint(["new_medication_id"], ["medications.id"]),
        sa.ForeignKeyConstraint(["side_effect_report_id"], ["side_effect_reports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("medication_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_medication_changes_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_medication_changes_medication_id"), ["medication_id"], unique=False
        )
    op.create_table(
        "side_effect_rechecks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("asked_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("ask_outbox_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("answered_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=True),
        sa.Column("intensity", sa.Integer(), nullable=True),
        sa.Column("burden", sa.Integer(), nullable=True),
        sa.Column("notes_enc", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["side_effect_reports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("side_effect_rechecks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_side_effect_rechecks_report_id"), ["report_id"], unique=False)
        batch_op.create_index("ix_side_effect_rechecks_due", ["asked_at", "due_at"], unique=False)
    op.create_table(
        "medication_change_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("remind_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reminder_outbox_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["change_id"], ["medication_changes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("change_id", "user_id", name="uq_medication_change_recipient"),
    )
    with op.batch_alter_table("medication_change_recipients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medication_change_recipients_change_id"), ["change_id"], unique=False
        )
        batch_op.create_index(
            "ix_medication_change_recipients_remind_due", ["reminded_at", "remind_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("medication_change_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_medication_change_recipients_remind_due")
        batch_op.drop_index(batch_op.f("ix_medication_change_recipients_change_id"))
    op.drop_table("medication_change_recipients")
    with op.batch_alter_table("side_effect_rechecks", schema=None) as batch_op:
        batch_op.drop_index("ix_side_effect_rechecks_due")
        batch_op.drop_index(batch_op.f("ix_side_effect_rechecks_report_id"))
    op.drop_table("side_effect_rechecks")
    with op.batch_alter_table("medication_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medication_changes_medication_id"))
        batch_op.drop_index(batch_op.f("ix_medication_changes_case_id"))
    op.drop_table("medication_changes")
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the
    # table, which SQLite refuses while other tables' rows reference it.
    op.drop_column("medications", "kind")
