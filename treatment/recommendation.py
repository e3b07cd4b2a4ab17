"""Level-of-care recommendation at assessment: which setting the facts point to, and why.

The rules are data (`INPATIENT_RULES`, `OUTPATIENT_NOTES`), each with a stable code that is stored with
the recommendation. Any inpatient rule that fires makes the recommendation "inpatient"; otherwise it is
"outpatient". "inpatient" stands for PRODUCT's "inpatient/residential": the clinician who accepts the
recommendation chooses the episode setting (`inpatient` or `residential`), and chooses the intensity of an
outpatient programme. A clinician may also override the recommendation, with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from treatment.instruments import get_definition

Setting = Literal["inpatient", "outpatient"]

DSM5_SEVERITIES = tuple(band.name for band in get_definition("dsm5_sud").bands)

# An active co-occurring disorder.
PHQ9_ACTIVE_DEPRESSION = 15
GAD7_ACTIVE_ANXIETY = 15
PHQ9_ITEM9_ANY_SELF_HARM = 1
# Medically risky withdrawal, scored at assessment.
COWS_RISKY_WITHDRAWAL = 25
CIWA_RISKY_WITHDRAWAL = 16


@dataclass(frozen=True, kw_only=True)
class AssessmentFacts:
    """What the recommendation depends on. Scores are None when the instrument was not administered.

    Every field is required, so a caller cannot silently default e.g. a safe living environment.
    """

    dsm5_severity: str | None
    phq9_total: int | None
    phq9_item9: int | None
    gad7_total: int | None
    active_diagnoses: tuple[str, ...]
    cows_total: int | None
    ciwa_total: int | None
    alcohol_or_benzo_co_use: bool
    withdrawal_seizure_or_delirium_history: bool
    pregnant: bool
    serious_medical_comorbidity: bool
    safe_living_environment: bool
    strong_support_system: bool

    def __post_init__(self) -> None:
        # A mistyped or out-of-range fact must fail loudly rather than quietly not fire a rule.
        if self.dsm5_severity is not None and self.dsm5_severity not in DSM5_SEVERITIES:
            raise ValueError(f"dsm5_severity must be one of {', '.join(DSM5_SEVERITIES)} or None.")
        _check_score("phq9_total", self.phq9_total, get_definition("phq9").max_total)
        _check_score("phq9_item9", self.phq9_item9, max(get_definition("phq9").item("q9").allowed))
        _check_score("gad7_total", self.gad7_total, get_definition("gad7").max_total)
        _check_score("cows_total", self.cows_total, get_definition("cows").max_total)
        _check_score("ciwa_total", self.ciwa_total, get_definition("ciwa_ar").max_total)
        if not isinstance(self.active_diagnoses, tuple) or not all(
            isinstance(diagnosis, str) for diagnosis in self.active_diagnoses
        ):
            raise TypeError("active_diagnoses must be a tuple of strings.")
        for name in (
            "alcohol_or_benzo_co_use",
            "withdrawal_seizure_or_delirium_history",
            "pregnant",
            "serious_medical_comorbidity",
            "safe_living_environment",
            "strong_support_system",
        ):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be true or false.")


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    applies: Callable[[AssessmentFacts], bool]


@dataclass(frozen=True)
class FiredRule:
    code: str
    description: str


@dataclass(frozen=True)
class Recommendation:
    setting: Setting
    rules: tuple[FiredRule, ...]


def _at_least(score: int | None, threshold: int) -> bool:
    return score is not None and score >= threshold


INPATIENT_RULES: tuple[Rule, ...] = (
    Rule(
        "dsm5_severe",
        "DSM-5 substance use disorder severity is severe.",
        lambda f: f.dsm5_severity == "severe",
    ),
    Rule(
        "phq9_high",
        f"PHQ-9 total is {PHQ9_ACTIVE_DEPRESSION} or more: active depressive disorder.",
        lambda f: _at_least(f.phq9_total, PHQ9_ACTIVE_DEPRESSION),
    ),
    Rule(
        "phq9_item9",
        "PHQ-9 item 9 (thoughts of death or self-harm) is above 0.",
        lambda f: _at_least(f.phq9_item9, PHQ9_ITEM9_ANY_SELF_HARM),
    ),
    Rule(
        "gad7_high",
        f"GAD-7 total is {GAD7_ACTIVE_ANXIETY} or more: active anxiety disorder.",
        lambda f: _at_least(f.gad7_total, GAD7_ACTIVE_ANXIETY),
    ),
    Rule(
        "active_diagnosis",
        "A co-occurring mental-health diagnosis is recorded as active.",
        lambda f: bool(f.active_diagnoses),
    ),
    Rule(
        "cows_high",
        f"COWS at assessment is {COWS_RISKY_WITHDRAWAL} or more: medically risky opioid withdrawal.",
        lambda f: _at_least(f.cows_total, COWS_RISKY_WITHDRAWAL),
    ),
    Rule(
        "alcohol_benzo_ciwa_high",
        f"Alcohol or benzodiazepine co-use with CIWA-Ar {CIWA_RISKY_WITHDRAWAL} or more.",
        lambda f: f.alcohol_or_benzo_co_use and _at_least(f.ciwa_total, CIWA_RISKY_WITHDRAWAL),
    ),
    Rule(
        "alcohol_benzo_seizure_history",
        "Alcohol or benzodiazepine co-use with a history of withdrawal seizures or delirium.",
        lambda f: f.alcohol_or_benzo_co_use and f.withdrawal_seizure_or_delirium_history,
    ),
    Rule(
        "pregnancy",
        "The patient is pregnant.",
        lambda f: f.pregnant,
    ),
    Rule(
        "medical_comorbidity",
        "The patient has a serious medical comorbidity.",
        lambda f: f.serious_medical_comorbidity,
    ),
    Rule(
        "no_safe_living_environment",
        "The patient has no safe living environment.",
        lambda f: not f.safe_living_environment,
    ),
)

# Noted on an outpatient recommendation; they never change the setting.
OUTPATIENT_NOTES: tuple[Rule, ...] = (
    Rule(
        "strong_support_system",
        "The patient has a strong support system.",
        lambda f: f.strong_support_system,
    ),
)


def recommend(facts: AssessmentFacts) -> Recommendation:
    """Recommend a setting, listing every rule that fired (inpatient rules, or outpatient notes)."""
    fired = _fired(INPATIENT_RULES, facts)
    if fired:
        return Recommendation(setting="inpatient", rules=fired)
    return Recommendation(setting="outpatient", rules=_fired(OUTPATIENT_NOTES, facts))


def _fired(rules: tuple[Rule, ...], facts: AssessmentFacts) -> tuple[FiredRule, ...]:
    return tuple(FiredRule(rule.code, rule.description) for rule in rules if rule.applies(facts))


def _check_score(name: str, value: int | None, maximum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer or None.")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be in 0..{maximum}.")
