from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from treatment.recommendation import (
    INPATIENT_RULES,
    OUTPATIENT_NOTES,
    AssessmentFacts,
    FiredRule,
    Recommendation,
    recommend,
)

# Facts under which no rule fires: every score below its threshold, a safe home, no risk factor.
UNREMARKABLE = AssessmentFacts(
    dsm5_severity="moderate",
    phq9_total=14,
    phq9_item9=0,
    gad7_total=14,
    active_diagnoses=(),
    cows_total=24,
    ciwa_total=15,
    alcohol_or_benzo_co_use=True,
    withdrawal_seizure_or_delirium_history=False,
    pregnant=False,
    serious_medical_comorbidity=False,
    safe_living_environment=True,
    strong_support_system=False,
)

NOTHING_RECORDED = AssessmentFacts(
    dsm5_severity=None,
    phq9_total=None,
    phq9_item9=None,
    gad7_total=None,
    active_diagnoses=(),
    cows_total=None,
    ciwa_total=None,
    alcohol_or_benzo_co_use=False,
    withdrawal_seizure_or_delirium_history=False,
    pregnant=False,
    serious_medical_comorbidity=False,
    safe_living_environment=True,
    strong_support_system=False,
)

# Each inpatient rule, with the smallest change to UNREMARKABLE that fires it alone.
EACH_RULE = [
    ("dsm5_severe", {"dsm5_severity": "severe"}),
    ("phq9_high", {"phq9_total": 15}),
    ("phq9_item9", {"phq9_item9": 1}),
    ("gad7_high", {"gad7_total": 15}),
    ("active_diagnosis", {"active_diagnoses": ("major_depressive_disorder",)}),
    ("cows_high", {"cows_total": 25}),
    ("alcohol_benzo_ciwa_high", {"ciwa_total": 16}),
    ("alcohol_benzo_seizure_history", {"withdrawal_seizure_or_delirium_history": True}),
    ("pregnancy", {"pregnant": True}),
    ("medical_comorbidity", {"serious_medical_comorbidity": True}),
    ("no_safe_living_environment", {"safe_living_environment": False}),
]


def codes(recommendation: Recommendation) -> tuple[str, ...]:
    return tuple(rule.code for rule in recommendation.rules)


def test_rule_codes_are_unique_and_all_covered():
    all_codes = [rule.code for rule in (*INPATIENT_RULES, *OUTPATIENT_NOTES)]
    assert len(all_codes) == len(set(all_codes))
    assert [code for code, _ in EACH_RULE] == [rule.code for rule in INPATIENT_RULES]


@pytest.mark.parametrize("facts", [UNREMARKABLE, NOTHING_RECORDED])
def test_no_rule_fired_is_outpatient(facts):
    assert recommend(facts) == Recommendation(setting="outpatient", rules=())


@pytest.mark.parametrize(("code", "changes"), EACH_RULE)
def test_each_rule_alone_recommends_inpatient(code, changes):
    recommendation = recommend(replace(UNREMARKABLE, **changes))
    assert recommendation.setting == "inpatient"
    assert codes(recommendation) == (code,)
    assert recommendation.rules[0].description


@pytest.mark.parametrize(("code", "changes"), EACH_RULE)
def test_each_rule_fires_from_nothing_recorded(code, changes):
    facts = replace(NOTHING_RECORDED, **changes)
    if code.startswith("alcohol_benzo_"):
        facts = replace(facts, alcohol_or_benzo_co_use=True)
    assert codes(recommend(facts)) == (code,)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"phq9_total": 14}, ()),
        ({"phq9_total": 15}, ("phq9_high",)),
        ({"phq9_total": 27}, ("phq9_high",)),
        ({"phq9_item9": 0}, ()),
        ({"phq9_item9": 1}, ("phq9_item9",)),
        ({"phq9_item9": 3}, ("phq9_item9",)),
        ({"gad7_total": 14}, ()),
        ({"gad7_total": 15}, ("gad7_high",)),
        ({"cows_total": 24}, ()),
        ({"cows_total": 25}, ("cows_high",)),
        ({"cows_total": 48}, ("cows_high",)),
        ({"ciwa_total": 15}, ()),
        ({"ciwa_total": 16}, ("alcohol_benzo_ciwa_high",)),
        ({"ciwa_total": 16, "alcohol_or_benzo_co_use": False}, ()),
        ({"ciwa_total": 67, "alcohol_or_benzo_co_use": False}, ()),
        ({"withdrawal_seizure_or_delirium_history": True, "alcohol_or_benzo_co_use": False}, ()),
        ({"dsm5_severity": "none"}, ()),
        ({"dsm5_severity": "mild"}, ()),
        ({"dsm5_severity": "moderate"}, ()),
        ({"dsm5_severity": "severe"}, ("dsm5_severe",)),
    ],
)
def test_boundaries(changes, expected):
    recommendation = recommend(replace(UNREMARKABLE, **changes))
    assert codes(recommendation) == expected
    assert recommendation.setting == ("inpatient" if expected else "outpatient")


def test_every_fired_rule_is_listed_in_rule_order():
    everything = {key: value for _, changes in EACH_RULE for key, value in changes.items()}
    recommendation = recommend(replace(UNREMARKABLE, **everything, strong_support_system=True))
    assert recommendation.setting == "inpatient"
    assert codes(recommendation) == tuple(rule.code for rule in INPATIENT_RULES)
    assert recommendation.rules == tuple(FiredRule(rule.code, rule.description) for rule in INPATIENT_RULES)


def test_a_combination_lists_each_fired_rule():
    facts = replace(UNREMARKABLE, phq9_total=20, phq9_item9=2, pregnant=True, safe_living_environment=False)
    assert codes(recommend(facts)) == ("phq9_high", "phq9_item9", "pregnancy", "no_safe_living_environment")


def test_strong_support_is_noted_on_outpatient():
    recommendation = recommend(replace(UNREMARKABLE, strong_support_system=True))
    assert recommendation.setting == "outpatient"
    assert codes(recommendation) == ("strong_support_system",)


def test_strong_support_does_not_soften_an_inpatient_recommendation():
    recommendation = recommend(replace(UNREMARKABLE, strong_support_system=True, cows_total=30))
    assert recommendation.setting == "inpatient"
    assert codes(recommendation) == ("cows_high",)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"dsm5_severity": "Severe"},
            ValueError,
            "dsm5_severity must be one of none, mild, moderate, severe",
        ),
        ({"dsm5_severity": "high"}, ValueError, "dsm5_severity"),
        ({"phq9_total": 28}, ValueError, r"phq9_total must be in 0\.\.27"),
        ({"phq9_total": -1}, ValueError, "phq9_total"),
        ({"phq9_item9": 4}, ValueError, r"phq9_item9 must be in 0\.\.3"),
        ({"gad7_total": 22}, ValueError, r"gad7_total must be in 0\.\.21"),
        ({"cows_total": 49}, ValueError, r"cows_total must be in 0\.\.48"),
        ({"ciwa_total": 68}, ValueError, r"ciwa_total must be in 0\.\.67"),
        ({"phq9_total": True}, TypeError, "phq9_total must be an integer"),
        ({"phq9_total": 15.0}, TypeError, "phq9_total must be an integer"),
        ({"ciwa_total": "16"}, TypeError, "ciwa_total must be an integer"),
        ({"active_diagnoses": ["ptsd"]}, TypeError, "active_diagnoses"),
        ({"active_diagnoses": (1,)}, TypeError, "active_diagnoses"),
        ({"pregnant": None}, TypeError, "pregnant must be true or false"),
        ({"safe_living_environment": "no"}, TypeError, "safe_living_environment"),
        ({"alcohol_or_benzo_co_use": 1}, TypeError, "alcohol_or_benzo_co_use"),
    ],
)
def test_malformed_facts_are_refused_rather_than_ignored(changes, error, message):
    with pytest.raises(error, match=message):
        replace(UNREMARKABLE, **changes)


def test_facts_are_keyword_only():
    with pytest.raises(TypeError):
        AssessmentFacts(None, None, None, None, (), None, None, False, False, False, False, True, False)  # type: ignore[misc]


facts_strategy = st.builds(
    AssessmentFacts,
    dsm5_severity=st.sampled_from([None, "none", "mild", "moderate", "severe"]),
    phq9_total=st.none() | st.integers(0, 27),
    phq9_item9=st.none() | st.integers(0, 3),
    gad7_total=st.none() | st.integers(0, 21),
    active_diagnoses=st.lists(st.sampled_from(["ptsd", "mdd", "gad"]), max_size=2).map(tuple),
    cows_total=st.none() | st.integers(0, 48),
    ciwa_total=st.none() | st.integers(0, 67),
    alcohol_or_benzo_co_use=st.booleans(),
    withdrawal_seizure_or_delirium_history=st.booleans(),
    pregnant=st.booleans(),
    serious_medical_comorbidity=st.booleans(),
    safe_living_environment=st.booleans(),
    strong_support_system=st.booleans(),
)


@given(facts_strategy)
def test_inpatient_exactly_when_an_inpatient_rule_fired(facts):
    recommendation = recommend(facts)
    inpatient_codes = {rule.code for rule in INPATIENT_RULES}
    fired = set(codes(recommendation))
    if recommendation.setting == "inpatient":
        assert fired
        assert fired <= inpatient_codes
    else:
        assert recommendation.setting == "outpatient"
        assert not fired & inpatient_codes
        assert fired == ({"strong_support_system"} if facts.strong_support_system else set())


def _raised(score: int | None, maximum: int) -> int | None:
    return None if score is None else min(score + 1, maximum)


@given(facts_strategy, st.booleans())
def test_higher_scores_and_more_risk_never_drop_an_inpatient_rule(facts, more_risk):
    worse = replace(
        facts,
        phq9_total=_raised(facts.phq9_total, 27),
        phq9_item9=_raised(facts.phq9_item9, 3),
        gad7_total=_raised(facts.gad7_total, 21),
        cows_total=_raised(facts.cows_total, 48),
        ciwa_total=_raised(facts.ciwa_total, 67),
        alcohol_or_benzo_co_use=facts.alcohol_or_benzo_co_use or more_risk,
        safe_living_environment=facts.safe_living_environment and not more_risk,
    )
    inpatient_codes = {rule.code for rule in INPATIENT_RULES}
    assert set(codes(recommend(facts))) & inpatient_codes <= set(codes(recommend(worse)))
