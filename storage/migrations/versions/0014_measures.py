"""measurement-based care: dated scores, episodes of care, PHQ-9 item 9 alerts (issue 14)

Existing cases get their episodes (the first from creation, one more per `case.reopened`
audit event), and every PHQ-9 / GAD-7 given in a review update becomes a dated score of the
episode it was given in, dated the day it was submitted (UTC). Where several members gave one
for the same case on the same day, the latest is kept, as a second entry for a day now
replaces the first; the number replaced is kept in `replaced`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "measure_episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "number", name="uq_measure_episodes_case_number"),
    )
    with op.batch_alter_table("measure_episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_episodes_case_id"), ["case_id"], unique=False)
    op.create_table(
        "measure_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("item9", sa.Integer(), nullable=True),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("entered_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("entered_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("review_update_id", sa.Integer(), nullable=True),
        sa.Column("replaced", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["episode_id"], ["measure_episodes.id"]),
        sa.ForeignKeyConstraint(["review_update_id"], ["review_updates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "case_id", "instrument", "taken_on", name="uq_measure_scores_case_instrument_day"
        ),
    )
    with op.batch_alter_table("measure_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_measure_scores_episode", ["episode_id", "instrument", "taken_on"], unique=False
        )
    op.create_table(
        "measure_item9_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("score_id", sa.Integer(), nullable=False),
        sa.Column("item9", sa.Integer(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("entered_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ack_due_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("escalate_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("next_escalation_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("acknowledged_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["score_id"], ["measure_scores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("measure_item9_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_item9_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_measure_item9_alerts_due", ["status", "next_escalation_at"], unique=False)
    op.create_table(
        "measure_item9_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["measure_item9_alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("measure_item9_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_item9_notices_alert_id"), ["alert_id"], unique=False)
    _migrate_review_scores()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _migrate_review_scores() -> None:
    """Episodes for the cases there are, and the review updates' scores as dated scores."""
    bind = op.get_bind()
    utc = storage.types.UTCDateTime()
    episodes_table = sa.table(
        "measure_episodes",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("number", sa.Integer),
        sa.column("started_at", utc),
        sa.column("started_on", sa.Date),
        sa.column("reason", sa.String),
    )
    scores_table = sa.table(
        "measure_scores",
        sa.column("case_id", sa.Integer),
        sa.column("episode_id", sa.Integer),
        sa.column("instrument", sa.String),
        sa.column("value", sa.Integer),
        sa.column("taken_on", sa.Date),
        sa.column("entered_by", sa.String),
        sa.column("entered_at", utc),
        sa.column("source", sa.String),
        sa.column("review_update_id", sa.Integer),
        sa.column("replaced", sa.Integer),
    )
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("created_at", utc))
    events = sa.table(
        "audit_events",
        sa.column("seq", sa.Integer),
        sa.column("action", sa.String),
        sa.column("case_id", sa.Integer),
        sa.column("at", utc),
    )
    updates = sa.table(
        "review_updates",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("user_id", sa.String),
        sa.column("phq9", sa.Integer),
        sa.column("gad7", sa.Integer),
        sa.column("submitted_at", utc),
    )
    starts: dict[int, list[tuple[datetime, str]]] = {}
    for case_id, created_at in bind.execute(sa.select(cases.c.id, cases.c.created_at)).all():
        starts[case_id] = [(_aware(created_at), "created")]
    reopened = sa.select(events.c.case_id, events.c.at).where(events.c.action == "case.reopened")
    for case_id, at in bind.execute(reopened.order_by(events.c.seq)).all():
        if case_id in starts:
            starts[case_id].append((_aware(at), "reopened"))
    episode_ids: dict[int, list[tuple[datetime, int]]] = {}
    for case_id, begun in starts.items():
        for number, (at, reason) in enumerate(begun, start=1):
            bind.execute(
                episodes_table.insert().values(
                    case_id=case_id, number=number, started_at=at, started_on=at.date(), reason=reason
                )
            )
            new_id = bind.execute(
                sa.select(episodes_table.c.id).where(
                    episodes_table.c.case_id == case_id, episodes_table.c.number == number
                )
            ).scalar_one()
            episode_ids.setdefault(case_id, []).append((at, new_id))
    kept: dict[tuple[int, str, object], dict] = {}
    rows = bind.execute(
        sa.select(
            updates.c.id,
            updates.c.case_id,
            updates.c.user_id,
            updates.c.phq9,
            updates.c.gad7,
            updates.c.submitted_at,
        ).order_by(updates.c.submitted_at, updates.c.id)
    ).all()
    for update_id, case_id, user_id, phq9, gad7, submitted_at in rows:
        at = _aware(submitted_at)
        candidates = [eid for start, eid in episode_ids.get(case_id, []) if start <= at]
        if not candidates:
            continue
        for instrument, value in (("phq9", phq9), ("gad7", gad7)):
            if value is None:
                continue
            key = (case_id, instrument, at.date())
            replaced = kept[key]["replaced"] + 1 if key in kept else 0
            kept[key] = dict(
                case_id=case_id,
                episode_id=candidates[-1],
                instrument=instrument,
                value=value,
                taken_on=at.date(),
                entered_by=user_id,
                entered_at=at,
                source="migrated",
                review_update_id=update_id,
                replaced=replaced,
            )
    for row in kept.values():
        bind.execute(scores_table.insert().values(**row))


def downgrade() -> None:
    with op.batch_alter_table("measure_item9_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_item9_notices_alert_id"))
    op.drop_table("measure_item9_notices")
    with op.batch_alter_table("measure_item9_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_measure_item9_alerts_due")
        batch_op.drop_index(batch_op.f("ix_measure_item9_alerts_case_id"))
    op.drop_table("measure_item9_alerts")
    with op.batch_alter_table("measure_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_measure_scores_episode")
    op.drop_table("measure_scores")
    with op.batch_alter_table("measure_episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_episodes_case_id"))
    op.drop_table("measure_episodes")
