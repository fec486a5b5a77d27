"""Consent on record (issue 11), end to end: the form, what it refuses, the card, who may
join, the expiry reminder (once), and what each message's notification text carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.ids import BlockId, Callback
from bot.scheduler import run_sweep
from devtools.slackreq import checkboxes_value, date_value, select_value, text_value
from storage.cases import CaseConsent, CaseMember
from tests.support import reply_text

PRESC, CM, PHARM, OUT = "UPRESC001", "UCMGR0001", "UPHARM001", "UOUTSIDE1"
CHANNEL = "C0CARE"
TODAY = "2026-11-23"  # the FrozenClock's day


def m(user: str) -> str:
    return f"<@{user}|{user.lower()}>"


def values(
    given=TODAY, expires="2027-03-01", roles=("prescriber", "case-manager", "therapist"), part2="no", **extra
):
    return {
        BlockId.CONSENT_GIVEN: date_value(given),
        BlockId.CONSENT_EXPIRES: date_value(expires),
        BlockId.CONSENT_ROLES: checkboxes_value(list(roles)),
        BlockId.CONSENT_ORGANIZATIONS: text_value(extra.get("orgs", "Eastside Clinic; Main St Pharmacy")),
        BlockId.CONSENT_PART2: select_value(part2),
        BlockId.CONSENT_NOTE: text_value(extra.get("note", "Signed copy scanned to the EHR")),
    }


def submit(h, user=PRESC, **kw):
    return h.submit(user, Callback.CASE_CONSENT, values(**kw), private_metadata="1")


def consents(h) -> list[CaseConsent]:
    with h.db() as session:
        return list(session.execute(select(CaseConsent).order_by(CaseConsent.id)).scalars())


def card_text(h) -> str:
    updates = [c.args for c in h.slack.calls_to("chat.update")]
    cards = [p for p in h.posts(CHANNEL) if not p.get("thread_ts")]
    return reply_text((updates or cards)[-1])


@pytest.fixture
def case(harness):
    harness.command(PRESC, "create Blue Heron as prescriber")
    harness.command(PRESC, f"add C-1 {m(CM)} case-manager")
    return harness


def test_the_card_says_when_none_is_recorded_and_nobody_is_refused(case):
    h = case
    assert "No consent on record" in card_text(h)
    h.command(PRESC, "consent C-1 show")
    assert "No consent on record" in h.last_reply_text()
    h.command(PRESC, f"add C-1 {m(PHARM)} pharmacist")  # none recorded: not refused
    with h.db() as session:
        assert session.execute(select(CaseMember).where(CaseMember.user_id == PHARM)).first() is not None


def test_recording_consent_through_the_form(case):
    h = case
    h.command(CM, "consent C-1")
    [opened] = h.slack.calls_to("views.open")
    view = opened.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == Callback.CASE_CONSENT and view["private_metadata"] == "1"
    assert submit(h, user=CM, part2="yes").status == 200
    [row] = consents(h)
    assert row.role_list == ["prescriber", "therapist", "case-manager"] and row.part2 is True
    assert row.recorded_by == CM and str(row.expires_on) == "2027-03-01"
    assert "Eastside" not in (row.organisations_enc or "") and "scanned" not in (row.note_enc or "")
    assert "On record until 1 Mar 2027" in card_text(h)
    assert "Part 2" not in card_text(h) and "Eastside" not in card_text(h)
    note = [p for p in h.posts(CHANNEL) if p.get("thread_ts")][-1]
    assert "recorded the patient's consent to share (until 1 Mar 2027)" in reply_text(note)
    assert "Recorded the patient's consent on C-1" in reply_text(h.posts(CM)[-1])

    h.command(PRESC, "consent C-1 show")
    shown = h.last_reply_text()
    assert "Eastside Clinic; Main St Pharmacy" in shown and "Signed copy scanned" in shown
    assert "42 CFR Part 2" in shown and "Covered" in shown and "Prescriber, Therapist, Case manager" in shown


def test_bad_forms_get_every_error_at_once_and_save_nothing(case):
    h = case
    response = submit(h, given="2026-12-01", expires="2026-11-20", roles=(), part2=None)
    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {
        BlockId.CONSENT_GIVEN,
        BlockId.CONSENT_EXPIRES,
        BlockId.CONSENT_ROLES,
        BlockId.CONSENT_PART2,
    }
    assert "future" in body["errors"][BlockId.CONSENT_GIVEN]
    body = json.loads(submit(h, given=None, expires=None).body)
    assert set(body["errors"]) == {BlockId.CONSENT_GIVEN, BlockId.CONSENT_EXPIRES}
    assert consents(h) == []


def test_a_consent_that_leaves_out_a_role_on_the_team_is_refused(case):
    h = case
    submit(h, roles=("prescriber",))
    assert consents(h) == []
    dm = reply_text(h.posts(PRESC)[-1])
    assert "roles this consent does not cover" in dm and f"<@{CM}> (case manager)" in dm


def test_adding_a_role_the_consent_does_not_cover_is_refused_with_the_reason(case):
    h = case
    submit(h)
    h.command(PRESC, f"add C-1 {m(PHARM)} pharmacist")
    assert "does not cover sharing with a pharmacist" in h.last_reply_text()
    assert "/case consent C-1" in h.last_reply_text()
    h.command(PRESC, f"add C-1 {m(PHARM)} therapist")
    with h.db() as session:
        assert (
            session.execute(select(CaseMember.role).where(CaseMember.user_id == PHARM)).scalar()
            == "therapist"
        )
    # A newer consent replaces it: now pharmacists are covered.
    submit(h, roles=("prescriber", "case-manager", "therapist", "pharmacist"))
    h.command(PRESC, f"add C-1 {m(OUT)} pharmacist")
    assert len(consents(h)) == 2 and consents(h)[0].reminded_at is not None  # superseded: no reminder


def test_the_case_managers_are_reminded_once_before_expiry(case):
    h = case
    submit(h, expires="2026-12-20")  # 27 days away
    assert run_sweep(h.deps)["consent_reminders"] == 0
    h.clock.advance(timedelta(days=13))  # Sunday 2026-12-06: 14 days before, not a working day
    assert run_sweep(h.deps)["consent_reminders"] == 0
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # the next working morning (clinic: UTC)
    assert run_sweep(h.deps)["consent_reminders"] == 1
    h.settle()
    [dm] = [p for p in h.posts(CM) if "expires soon" in p["text"]]
    assert dm["text"] == "Consent for case C-1 expires soon"
    assert "expires on *20 Dec 2026* (in 13 days)" in reply_text(dm)
    assert not [p for p in h.posts(PRESC) if "expires soon" in p["text"]]  # case managers only
    assert run_sweep(h.deps)["consent_reminders"] == 0
    h.clock.advance(timedelta(days=30))
    assert run_sweep(h.deps)["consent_reminders"] == 0


def test_outsiders_cannot_record_or_read_consent(case):
    h = case
    h.command(OUT, "consent C-1")
    assert "don't have access to case C-1" in h.last_reply_text()
    assert not h.slack.calls_to("views.open")
    submit(h, user=OUT)
    assert consents(h) == []
    h.command(OUT, "consent C-1 show")
    assert "don't have access to case C-1" in h.last_reply_text()
    h.command(PRESC, "consent C-1 maybe")
    assert "takes a case id, then nothing (the form) or `show`" in h.last_reply_text()
