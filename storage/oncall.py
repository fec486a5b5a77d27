"""Tables of the after-hours rota: who is on call when, and which urgent items they were
sent while covering (what lets them read and acknowledge those items' case).

A shift is a span of UTC time; `removed_at` marks one taken off the rota (kept for the
audit trail, never deleted). A cover grant is written in the unit that sent the on-call
person an urgent item: it names the item and lasts until the shift ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseStatus
from storage.types import utc_column


class OnCallShift(SQLModel, table=True):
    __tablename__ = "oncall_shifts"
    __table_args__ = (Index("ix_oncall_shifts_span", "starts_at", "ends_at"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    user_id: str = Field(max_length=32)
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    removed_by: str | None = Field(default=None, max_length=32)
    removed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def ref(self) -> str:
        return f"OC-{self.id}"


class CoverGrant(SQLModel, table=True):
    """The on-call person was sent `item` (e.g. `side_effect:12`) about `case_id` while on
    shift `shift_id`: they may read about that case and act on that item until `until`."""

    __tablename__ = "oncall_cover_grants"
    __table_args__ = (
        Index("ix_oncall_cover_grants_case_user", "case_id", "user_id"),
        # grants_of_user (App Home of the person on call) reads by user and live grants.
        Index("ix_oncall_cover_grants_user_until", "user_id", "until"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    user_id: str = Field(max_length=32)
    item: str = Field(max_length=48)
    shift_id: int = Field(foreign_key="oncall_shifts.id")
    created_at: datetime = Field(sa_column=utc_column())
    until: datetime = Field(sa_column=utc_column())


def active_shifts(*, session: Session, at: datetime) -> list[OnCallShift]:
    """Shifts covering `at` (not removed), the earliest-started first."""
    return list(
        session.execute(
            select(OnCallShift)
            .where(
                col(OnCallShift.removed_at).is_(None),
                col(OnCallShift.starts_at) <= at,
                col(OnCallShift.ends_at) > at,
            )
            .order_by(col(OnCallShift.starts_at), col(OnCallShift.id))
        ).scalars()
    )


def upcoming_shifts(*, session: Session, after: datetime) -> list[OnCallShift]:
    """Shifts not yet over (not removed), in the order they start: `/oncall list`."""
    return list(
        session.execute(
            select(OnCallShift)
            .where(col(OnCallShift.removed_at).is_(None), col(OnCallShift.ends_at) > after)
            .order_by(col(OnCallShift.starts_at), col(OnCallShift.id))
        ).scalars()
    )


def get_shift(*, session: Session, shift_id: int, lock: bool = False) -> OnCallShift | None:
    query = select(OnCallShift).where(OnCallShift.id == shift_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def grants(
    *, session: Session, case_id: int, user_id: str, at: datetime, item: str | None = None
) -> list[CoverGrant]:
    """The user's cover grants on a case still valid at `at` (on a shift not removed)."""
    query = (
        select(CoverGrant)
        .join(OnCallShift, col(OnCallShift.id) == col(CoverGrant.shift_id))
        .where(
            CoverGrant.case_id == case_id,
            CoverGrant.user_id == user_id,
            col(CoverGrant.created_at) <= at,
            col(CoverGrant.until) > at,
            col(OnCallShift.removed_at).is_(None),
        )
    )
    if item is not None:
        query = query.where(CoverGrant.item == item)
    return list(session.execute(query.order_by(col(CoverGrant.id))).scalars())


def grants_of_user(*, session: Session, user_id: str, at: datetime) -> list[CoverGrant]:
    """Every cover grant the user holds at `at` (shift not removed) on an open case, oldest
    first: what App Home lists for the person on call (bot/oncall `covered_waiting`)."""
    return list(
        session.execute(
            select(CoverGrant)
            .join(OnCallShift, col(OnCallShift.id) == col(CoverGrant.shift_id))
            .join(Case, col(Case.id) == col(CoverGrant.case_id))
            .where(
                CoverGrant.user_id == user_id,
                col(CoverGrant.created_at) <= at,
                col(CoverGrant.until) > at,
                col(OnCallShift.removed_at).is_(None),
                Case.status == CaseStatus.OPEN,
            )
            .order_by(col(CoverGrant.id))
        ).scalars()
    )
