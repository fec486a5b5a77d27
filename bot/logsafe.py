"""Log records that keep what went wrong but not what a request carried.

An exception's message can quote its input (a value that did not parse, the bytes a server
could not read, a clinician's text): a logged traceback keeps each exception's type and
frames, and its message becomes "(message not logged)". What our own code logs with an
exception (the action, the ref the user was given) is the record's message and is kept.

Kept too: the messages of errors about the connection or the machine (a database that is
locked or refused the connection, a socket that timed out), which say what an operator must
fix and quote nothing a request carried (SQL statements are logged with their parameters
hidden, storage/db.py). A database's constraint errors are not among them: PostgreSQL's
DETAIL quotes the conflicting values.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback

from sqlalchemy import exc as sa_exc

NOT_LOGGED = "(message not logged)"
_SAY_WHY = (OSError, sqlite3.OperationalError, sa_exc.OperationalError, sa_exc.InterfaceError)


def drop_exception_text(record: logging.LogRecord) -> None:
    """Replace the traceback a formatter would print for `record` with one without messages."""
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = "".join(_lines(record.exc_info[1], set())).rstrip("\n")


def _lines(exc: BaseException, seen: set[int]) -> list[str]:
    """As `traceback.format_exception`, chained causes first, each message left out."""
    seen.add(id(exc))
    lines: list[str] = []
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        lines += _lines(cause, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        lines += _lines(context, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(exc.__traceback__)
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    message = f": {exc}" if isinstance(exc, _SAY_WHY) else f" {NOT_LOGGED}"
    lines.append(f"{name}{message}\n")
    return lines


class NoExceptionText(logging.Filter):
    """On a handler (app.py puts it on the root logger's), for every logger that reaches it."""

    def filter(self, record: logging.LogRecord) -> bool:
        drop_exception_text(record)
        return True
