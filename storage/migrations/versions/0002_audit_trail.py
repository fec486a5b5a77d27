"""audit trail: thread transcript, lookup indexes, append-only trigger, verifier state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:27:57.379680
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The database itself refuses to change or remove audit rows, whoever asks (the app never
# tries). Someone who owns the table can still drop the trigger; the HMAC chain is what
# catches that, and `python -m bot.audit verify` is how it is checked.
APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
TRIGGERS = (
    "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
)

# Where the periodic verifier has got to (bot/services/audit_verify.py); one row, locked
# by the run that holds it, so replicas take turns.
VERIFY_STATE_KEY = "audit_verify"
VERIFY_STATE = {"tip_seq": 0, "tip_hash": "0" * 64, "recheck_seq": 1, "due_at": None, "alerted": None}


def upgrade() -> None:
    op.create_table(
        "thread_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=191), nullable=True),
        sa.Column("at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=True),
        sa.Column("files_enc", sa.Text(), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("purged_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("thread_entries", schema=None) as batch_op:
        batch_op.create_index("ix_thread_entries_case_order", ["case_id", "id"], unique=False)
        batch_op.create_index("ix_thread_entries_retention", ["purged_at", "at"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_case_seq", ["case_id", "seq"], unique=False)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_result", ["result_channel", "result_ts"], unique=False)

    app_meta = sa.table("app_meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(app_meta, [{"key": VERIFY_STATE_KEY, "value": json.dumps(VERIFY_STATE)}])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        for statement in TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")

    op.execute(f"DELETE FROM app_meta WHERE key = '{VERIFY_STATE_KEY}'")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_result")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_case_seq")

    with op.batch_alter_table("thread_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_thread_entries_retention")
        batch_op.drop_index("ix_thread_entries_case_order")

    op.drop_table("thread_entries")
