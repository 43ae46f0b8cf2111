"""Labels of the ESF Plus fields, values and indicators (English msgids, German catalogue)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

NOT_STATED = _l("not stated (keine Angabe)")
LABOUR_LABELS = {
    "unemployed": _l("unemployed"),
    "long_term_unemployed": _l("long-term unemployed (12 months or more)"),
    "inactive": _l("inactive (not employed, not seeking work)"),
    "employed": _l("employed"),
    "self_employed": _l("self-employed"),
}
ISCED_LABELS = {
    "isced_0_2": _l("ISCED 0–2 (up to lower secondary)"),
    "isced_3_4": _l("ISCED 3–4 (upper secondary, vocational)"),
    "isced_5_8": _l("ISCED 5–8 (tertiary)"),
}
YES_NO_LABELS = {"yes": _l("yes"), "no": _l("no")}
LONG_LABELS = {
    "employment": _l("in employment (incl. self-employment)"),
    "improved": _l("improved labour-market situation"),
    "not_reached": _l("not reached"),
}
EXIT_LABELS = {
    "job_searching": _l("engaged in job searching"),
    "education": _l("in education or training"),
    "qualification": _l("gaining a qualification"),
    "employment": _l("in employment, including self-employment"),
}
FIELD_LABELS: dict[str, Any] = {
    "birth_year": _l("Year of birth"),
    "gender": _l("Gender"),
    "labour_status": _l("Labour-market status at entry"),
    "isced": _l("Highest education (ISCED)"),
    "third_country": _l("Third-country national"),
    "foreign_background": _l("Foreign background (migration background)"),
    "minority": _l("Member of a minority (e.g. Roma)"),
    "homeless": _l("Homeless or affected by housing exclusion"),
    "rural": _l("Lives in a rural area"),
    "disability": _l("Disability"),
    "disability_consent_on": _l("Consent to record the disability given on"),
    **{f"exit_{k}": v for k, v in EXIT_LABELS.items()},
    "long_result": _l("Situation six months after the exit"),
    "long_result_on": _l("Recorded on"),
}
INDICATOR_LABELS: dict[str, Any] = {
    "entries": _l("Participants entering"),
    "unemployed": _l("Unemployed, including long-term unemployed"),
    "long_term_unemployed": _l("Long-term unemployed"),
    "inactive": _l("Inactive"),
    "employed": _l("Employed, including self-employed"),
    "age_under_18": _l("Below 18 years of age"),
    "age_18_29": _l("18 to 29 years of age"),
    "age_30_54": _l("30 to 54 years of age"),
    "age_55_plus": _l("55 years of age and above"),
    "age_unknown": _l("Age not known (no year of birth)"),
    "isced_0_2": _l("With lower secondary education or less (ISCED 0–2)"),
    "isced_3_4": _l("With upper secondary or post-secondary education (ISCED 3–4)"),
    "isced_5_8": _l("With tertiary education (ISCED 5–8)"),
    "third_country": _l("Third-country nationals"),
    "foreign_background": _l("Participants with a foreign background"),
    "minority": _l("Minorities (including marginalised communities such as the Roma)"),
    "homeless": _l("Homeless or affected by housing exclusion"),
    "rural": _l("Participants from rural areas"),
    "disability": _l("Participants with disabilities"),
    "exits": _l("Participants leaving"),
    "exit_job_searching": _l("Engaged in job searching upon leaving"),
    "exit_education": _l("In education or training upon leaving"),
    "exit_qualification": _l("Gaining a qualification upon leaving"),
    "exit_employment": _l("In employment, including self-employment, upon leaving"),
    "long_checks": _l("Six-month results recorded"),
    "long_employment": _l("In employment, including self-employment, six months after leaving"),
    "long_improved": _l("With an improved labour-market situation six months after leaving"),
    "long_not_reached": _l("Not reached six months after leaving"),
}
GROUP_LABELS = {
    "entry": _l("At entry (common output indicators)"),
    "exit": _l("Upon leaving (immediate result indicators)"),
    "long": _l("Six months after leaving (longer-term result indicators)"),
}
GENDER_COLUMN_LABELS = {
    "female": _l("women"),
    "male": _l("men"),
    "diverse": _l("diverse"),
    "": _l("not stated"),
}

_VALUE_LABELS: dict[str, dict[str, Any]] = {
    "labour_status": LABOUR_LABELS,
    "isced": ISCED_LABELS,
    "long_result": LONG_LABELS,
}


def value_label(key: str, value: str) -> str:
    """A stored value as a person reads it ("" stays empty, "unknown" is "keine Angabe")."""
    if not value:
        return ""
    if value == "unknown":
        return str(NOT_STATED)
    return str(_VALUE_LABELS.get(key, YES_NO_LABELS).get(value, value))
