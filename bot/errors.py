"""Typed domain errors. Services raise them; one place (handlers/replies.py) turns them
into what the user sees, so every refusal reads the same and reveals the same nothing."""

from __future__ import annotations


class CareThreadError(Exception):
    """Base: an error the user can do something about."""

    outcome = "error"

    def __init__(
        self, message: str, *, usage: str | None = None, field: str | None = None, case_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.field = field  # the modal block_id the message belongs to, if any
        self.case_id = case_id  # for the audit trail only


class BadInput(CareThreadError):
    """The request was malformed; nothing changed. `usage` shows the right form."""

    outcome = "bad_input"


class FieldErrors(BadInput):
    """Every problem with a submitted modal at once, by block_id, so the person fixes them
    all in one go. Returned in the submission's ack (`response_action="errors"`, the modal
    stays open, nothing saved); if raised after the modal closed, it reads as one BadInput."""

    def __init__(self, errors: dict[str, str], *, case_id: int | None = None) -> None:
        super().__init__(" ".join(errors.values()), case_id=case_id)
        self.errors = dict(errors)


class NoAccess(CareThreadError):
    """Not found and forbidden look identical to the user, so a probe learns nothing."""

    outcome = "denied"

    def __init__(
        self, case_ref: str | None = None, *, reason: str = "forbidden", case_id: int | None = None
    ) -> None:
        shown = f"case {case_ref}" if case_ref else "that case"
        super().__init__(
            f"You don't have access to {shown}, or it doesn't exist. "
            "Check the id with `/case list`, or ask someone on the care team to add you.",
            case_id=case_id,
        )
        self.case_ref = case_ref
        self.reason = reason  # audited, never shown


class NotAllowed(CareThreadError):
    """The user may see the case but not do this (e.g. a non-prescriber changing meds)."""

    outcome = "denied"


class Conflict(CareThreadError):
    """The action no longer applies (already done, already closed)."""

    outcome = "conflict"


class Duplicate(Exception):
    """The same Slack delivery (event id, submission) was already processed."""
