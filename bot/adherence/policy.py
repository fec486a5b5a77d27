"""What the adherence relay knows: the four answers, which medications are high risk, and how
urgent each report is. Pure.

Priority reuses the side-effect relay's severity words and clocks (bot/side_effects/policy.py
and its settings), so both relays chase on the same deadlines:

- stopped on their own, of a medication on CARETHREAD_ADHERENCE_HIGH_RISK (antipsychotics,
  lithium, clozapine by default): *high* (acknowledge within CARETHREAD_SIDEEFFECT_DEADLINE_HIGH,
  4 h by default). Stopping these abruptly risks relapse, and lithium and clozapine cannot
  simply be restarted at the old dose, so a prescriber must hear the same day; this is the
  issue's rule, and the reason is routed, not advice given;
- every other concern (missing doses, stopped another medication, not picked up):
  *moderate* (CARETHREAD_SIDEEFFECT_DEADLINE_MODERATE, 1 business day). Never *low*: a patient
  off a medication is something the prescriber should hear within a working day;
- taking as prescribed: no priority and no clock. It is recorded and noted in the thread for
  the team, with nothing for a prescriber to acknowledge.

Nothing here is medical advice; the app routes what the patient said to the prescriber.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from storage.adherence import AdherenceKind
from storage.side_effects import Severity

KINDS: dict[str, str] = {
    AdherenceKind.AS_PRESCRIBED: "Taking as prescribed",
    AdherenceKind.MISSING_DOSES: "Missing doses",
    AdherenceKind.STOPPED: "Stopped on their own",
    AdherenceKind.NOT_PICKED_UP: "Not picked up from the pharmacy",
}

PLANS: dict[str, str] = {
    "continue_support": "Continue as prescribed; team supports adherence",
    "contact_patient": "Prescriber will contact the patient",
    "appointment": "Bring the next appointment forward",
    "adjust": "Adjust dose or schedule",
    "switch": "Switch medication",
    "stop": "Stop the medication (planned)",
    "pharmacy": "Resolve the pharmacy supply",
}

# Antipsychotics by class and by name (a medication list holds names, not classes), lithium
# and clozapine. CARETHREAD_ADHERENCE_HIGH_RISK replaces the whole list.
DEFAULT_HIGH_RISK: tuple[str, ...] = (
    "antipsychotic",
    "lithium",
    "clozapine",
    "amisulpride",
    "aripiprazole",
    "asenapine",
    "brexpiprazole",
    "cariprazine",
    "chlorpromazine",
    "flupentixol",
    "fluphenazine",
    "haloperidol",
    "iloperidone",
    "loxapine",
    "lumateperone",
    "lurasidone",
    "olanzapine",
    "paliperidone",
    "perphenazine",
    "pimozide",
    "quetiapine",
    "risperidone",
    "sulpiride",
    "thioridazine",
    "trifluoperazine",
    "ziprasidone",
    "zuclopenthixol",
)


def is_high_risk(medication: str, high_risk: Sequence[str]) -> bool:
    """Whether a medication's name contains one of the configured names or classes as a whole
    word, ignoring case: "Lithium carbonate ER" matches "lithium"; "lithiumx" does not."""
    name = medication.casefold()
    return any(re.search(rf"(?<!\w){re.escape(term.casefold())}(?!\w)", name) for term in high_risk if term)


def priority_of(kind: str, *, high_risk: bool) -> Severity | None:
    """The report's priority, in the side-effect relay's words (module docstring): None when
    there is nothing to acknowledge."""
    if kind == AdherenceKind.AS_PRESCRIBED:
        return None
    if kind == AdherenceKind.STOPPED and high_risk:
        return Severity.HIGH
    return Severity.MODERATE
