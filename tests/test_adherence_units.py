"""The adherence relay's pure parts: parsing `/adherence` and reading its forms."""

from __future__ import annotations

import json

import pytest

from bot.adherence.commands import ListAdherence, OpenAdherenceForm, parse_adherence_command, parse_report_id
from bot.adherence.forms import read_plan, read_report
from bot.adherence.policy import DEFAULT_HIGH_RISK, is_high_risk, priority_of
from bot.adherence.settings import AdherenceSettings
from bot.audit.sentences import sentence
from bot.errors import BadInput, FieldErrors
from bot.ids import BlockId
from bot.inputs import Help
from devtools.slackreq import select_value, text_value
from storage.side_effects import Severity


def test_parse_commands():
    assert parse_adherence_command("C-12") == OpenAdherenceForm(12)
    assert parse_adherence_command("c-12  ran out, asks about   refills ") == OpenAdherenceForm(
        12, "ran out, asks about   refills"
    )
    assert parse_adherence_command("list C-3") == ListAdherence(3)
    assert parse_adherence_command("HELP") == Help()
    for bad, says in (
        ("", "Name the case"),
        ("list", "Name one case"),
        ("list C-1 C-2", "Name one case"),
        ("help me", "takes nothing"),
        ("twelve", "is not a case id"),
        ("x" * 5000, "too long"),
    ):
        with pytest.raises(BadInput) as err:
            parse_adherence_command(bad)
        assert says in err.value.message


def test_report_ids_from_buttons():
    assert parse_report_id("7") == 7
    for stale in (None, "", "-1", "7; drop", "99999999999"):
        with pytest.raises(BadInput):
            parse_report_id(stale)


def _view(values: dict, case: object = 3) -> dict:
    return {
        "private_metadata": json.dumps({"case": case}),
        "state": {"values": {k: {"value": v} for k, v in values.items()}},
    }


def test_read_report_form():
    form = read_report(
        _view(
            {
                BlockId.AD_KIND: select_value("stopped"),
                BlockId.AD_MEDICATION: select_value("42"),
                BlockId.AD_MEDICATION_OTHER: text_value("ignored when a listed one is picked"),
                BlockId.AD_REASON: text_value("  felt flat\r\n\n\n\nwants to talk  "),
            }
        )
    )
    assert (form.case_id, form.kind, form.medication_id, form.medication_other) == (3, "stopped", 42, None)
    assert form.reason == "felt flat\n\nwants to talk"
    typed = read_report(
        _view(
            {
                BlockId.AD_KIND: select_value("not_picked_up"),
                BlockId.AD_MEDICATION_OTHER: text_value("Lithium ER"),
            }
        )
    )
    assert typed.medication_id is None and typed.medication_other == "Lithium ER" and typed.reason is None
    with pytest.raises(FieldErrors) as err:
        read_report(_view({BlockId.AD_MEDICATION: select_value("abc")}))
    assert set(err.value.errors) == {BlockId.AD_KIND, BlockId.AD_MEDICATION}
    with pytest.raises(BadInput):
        read_report(_view({BlockId.AD_KIND: select_value("stopped")}, case="C-3"))  # tampered metadata


def test_read_plan_form():
    assert read_plan(_view({BlockId.AD_PLAN: select_value("pharmacy")})) == ("pharmacy", None)
    with pytest.raises(FieldErrors) as err:
        read_plan(
            _view({BlockId.AD_PLAN: select_value("continue"), BlockId.AD_PLAN_NOTE: text_value("x" * 1001)})
        )
    assert set(err.value.errors) == {BlockId.AD_PLAN, BlockId.AD_PLAN_NOTE}


def test_high_risk_matching_and_priority_rule():
    assert is_high_risk("Lithium carbonate ER", DEFAULT_HIGH_RISK)
    assert is_high_risk("CLOZAPINE 100 mg", DEFAULT_HIGH_RISK)
    assert is_high_risk("long-acting antipsychotic injection", DEFAULT_HIGH_RISK)
    assert not is_high_risk("lithiumx", DEFAULT_HIGH_RISK) and not is_high_risk(
        "sertraline", DEFAULT_HIGH_RISK
    )
    assert is_high_risk("Depakote", ("depakote",)) and not is_high_risk("quetiapine", ("depakote",))
    assert priority_of("as_prescribed", high_risk=True) is None
    assert priority_of("stopped", high_risk=True) == Severity.HIGH
    for kind in ("missing_doses", "stopped", "not_picked_up"):
        assert priority_of(kind, high_risk=False) == Severity.MODERATE  # never shown as low
    assert AdherenceSettings.model_validate(
        {"CARETHREAD_ADHERENCE_HIGH_RISK": "depakote; valproate"}
    ).high_risk == (
        "depakote",
        "valproate",
    )


def test_audit_timeline_reads_adherence_events_as_sentences():
    said = sentence(
        "adherence.reported",
        actor="U0THERA",
        case_ref="C-3",
        target="adherence:5",
        details={"kind": "not_picked_up"},
    )
    assert said == "<@U0THERA> reported adherence AD-5 · not picked up"
    told = sentence(
        "adherence.notified", actor="app", case_ref="C-3", target="user:U0PRESC1", details={"ref": "AD-5"}
    )
    assert told == "CareThread told <@U0PRESC1> about adherence report AD-5"
    escalated = sentence("adherence.escalated", actor="app", case_ref="C-3", target="adherence:5", details={})
    assert escalated == "CareThread escalated adherence report AD-5 to the case managers"
    joined = sentence(
        "adherence.prescriber_joined",
        actor="U0CASEM",
        case_ref="C-3",
        target="user:U0PRESC1",
        details={"reports": ["AD-5"]},
    )
    assert joined == "<@U0CASEM> sent C-3's open adherence reports to <@U0PRESC1>, a new prescriber"
