"""Answers remembered for the rest of one transaction, until it writes.

`/case show` asks every workflow for its part of the case, and several ask the same
question (the team, the medications, this episode's scores): each asking was a query of its
own, a few hundred microseconds of ORM work apiece on every request. `remembered` loads an
answer once per session and hands it out again, but only while nothing could have changed
it: the session forgets everything when it writes (a flush, or any statement through it
that is not a SELECT) and when its transaction ends, and it neither remembers nor answers
from memory while it holds changes not yet flushed. So a reader never gets an answer older
than its own unit's changes. Only for plain reads (no lock), whose answer the callers do
not change in place.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

T = TypeVar("T")
_MEMO = "carethread_remembered"


def remembered(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or what it returned for `key` earlier in this transaction."""
    if session.new or session.dirty or session.deleted:
        return load()  # its autoflush writes, which forgets; nothing is kept from before it
    memo: dict[Hashable, Any] | None = session.info.get(_MEMO)
    if memo is not None and key in memo:
        return memo[key]
    value = load()
    session.info.setdefault(_MEMO, {})[key] = value
    return value


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_MEMO, None)


def _on_execute(state: ORMExecuteState) -> None:
    if not state.is_select:
        _forget(state.session)


# On the ORM's Session class: SQLModel's sessions are of a subclass, and forget alike.
event.listen(Session, "after_flush", _forget)
event.listen(Session, "after_transaction_end", _forget)  # commit, rollback, close, savepoints
event.listen(Session, "do_orm_execute", _on_execute)  # every statement through the session
