"""Log records that keep what went wrong but not what a request carried.

An exception's message can quote its input (a value that did not parse, the bytes a server
could not read, a clinician's text): a logged traceback keeps each exception's type and
frames, and its message becomes "(message not logged)". What our own code logs with an
exception (the action, the ref the user was given) is the record's message and is kept.
"""

from __future__ import annotations

import logging
import traceback

NOT_LOGGED = "(message not logged)"


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
    lines.append(f"{name} {NOT_LOGGED}\n")
    return lines


class NoExceptionText(logging.Filter):
    """On a handler (app.py puts it on the root logger's), for every logger that reaches it."""

    def filter(self, record: logging.LogRecord) -> bool:
        drop_exception_text(record)
        return True
