from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from treatment.instruments import (
    DEFINITIONS,
    Band,
    InstrumentDefinition,
    InstrumentResponseError,
    Item,
    ItemFlag,
    ResponseValue,
    UnknownInstrumentError,
    get_definition,
    score,
)

# PRODUCT.md "Clinical scoring rules", restated independently of the definitions under test.
ITEMS: dict[str, dict[str, tuple[ResponseValue, ...]]] = {
    "cows": {
        "pulse": (0, 1, 2, 4),
        "sweating": (0, 1, 2, 3, 4),
        "restlessness": (0, 1, 3, 5),
        "pupils": (0, 1, 2, 5),
        "aches": (0, 1, 2, 4),
        "rhinorrhea": (0, 1, 2, 4),
        "gi_upset": (0, 1, 2, 3, 5),
        "tremor": (0, 1, 2, 4),
        "yawning": (0, 1, 2, 4),
        "anxiety": (0, 1, 2, 4),
        "gooseflesh": (0, 3, 5),
    },
    "ciwa_ar": {
        **{
            key: tuple(range(8))
            for key in (
                "nausea",
                "tremor",
                "sweats",
                "anxiety",
                "agitation",
                "tactile",
                "auditory",
                "visual",
                "headache",
            )
        },
        "orientation": (0, 1, 2, 3, 4),
    },
    "phq9": {f"q{n}": (0, 1, 2, 3) for n in range(1, 10)},
    "gad7": {f"q{n}": (0, 1, 2, 3) for n in range(1, 8)},
    "audit_c": {"q1": (0, 1, 2, 3, 4), "q2": (0, 1, 2, 3, 4), "q3": (0, 1, 2, 3, 4)},
    "dsm5_sud": dict.fromkeys(
        (
            "larger_amounts",
            "cut_down",
            "time_spent",
            "craving",
            "role_failure",
            "social_problems",
            "activities_given_up",
            "hazardous_use",
            "physical_psychological_problems",
            "tolerance",
            "withdrawal",
        ),
        (False, True),
    ),
}

MAX_TOTALS = {"cows": 48, "ciwa_ar": 67, "phq9": 27, "gad7": 21, "audit_c": 12, "dsm5_sud": 11}

# (instrument, total, band): both sides of every band boundary, plus 0 and the maximum.
BAND_BOUNDARIES = [
    ("cows", 0, "none"),
    ("cows", 4, "none"),
    ("cows", 5, "mild"),
    ("cows", 12, "mild"),
    ("cows", 13, "moderate"),
    ("cows", 24, "moderate"),
    ("cows", 25, "moderately_severe"),
    ("cows", 36, "moderately_severe"),
    ("cows", 37, "severe"),
    ("cows", 48, "severe"),
    ("ciwa_ar", 0, "minimal"),
    ("ciwa_ar", 8, "minimal"),
    ("ciwa_ar", 9, "moderate"),
    ("ciwa_ar", 15, "moderate"),
    ("ciwa_ar", 16, "severe"),
    ("ciwa_ar", 67, "severe"),
    ("phq9", 0, "minimal"),
    ("phq9", 4, "minimal"),
    ("phq9", 5, "mild"),
    ("phq9", 9, "mild"),
    ("phq9", 10, "moderate"),
    ("phq9", 14, "moderate"),
    ("phq9", 15, "moderately_severe"),
    ("phq9", 19, "moderately_severe"),
    ("phq9", 20, "severe"),
    ("phq9", 27, "severe"),
    ("gad7", 0, "minimal"),
    ("gad7", 4, "minimal"),
    ("gad7", 5, "mild"),
    ("gad7", 9, "mild"),
    ("gad7", 10, "moderate"),
    ("gad7", 14, "moderate"),
    ("gad7", 15, "severe"),
    ("gad7", 21, "severe"),
    ("audit_c", 0, "negative"),
    ("audit_c", 3, "negative"),
    ("audit_c", 4, "positive"),
    ("audit_c", 12, "positive"),
    ("dsm5_sud", 0, "none"),
    ("dsm5_sud", 1, "none"),
    ("dsm5_sud", 2, "mild"),
    ("dsm5_sud", 3, "mild"),
    ("dsm5_sud", 4, "moderate"),
    ("dsm5_sud", 5, "moderate"),
    ("dsm5_sud", 6, "severe"),
    ("dsm5_sud", 11, "severe"),
]


def responses_totalling(definition: InstrumentDefinition, total: int) -> dict[str, ResponseValue]:
    """Valid responses whose total is exactly `total` (searched: not every item allows every value)."""

    def fill(index: int, remaining: int) -> dict[str, ResponseValue] | None:
        if index == len(definition.items):
            return {} if remaining == 0 else None
        item = definition.items[index]
        for value in sorted(item.allowed, reverse=True):
            if value <= remaining:
                rest = fill(index + 1, remaining - int(value))
                if rest is not None:
                    return {item.key: value, **rest}
        return None

    responses = fill(0, total)
    assert responses is not None, f"{definition.code} cannot total {total}"
    return responses


def lowest(definition: InstrumentDefinition) -> dict[str, ResponseValue]:
    return responses_totalling(definition, 0)


def valid_responses(definition: InstrumentDefinition) -> st.SearchStrategy[dict[str, ResponseValue]]:
    return st.fixed_dictionaries({item.key: st.sampled_from(item.allowed) for item in definition.items})


definitions_and_responses = st.sampled_from(sorted(DEFINITIONS)).flatmap(
    lambda code: st.tuples(st.just(DEFINITIONS[code]), valid_responses(DEFINITIONS[code]))
)


# --- The definitions match PRODUCT.md ---------------------------------------------------------------


def test_registry_holds_the_six_instruments_at_version_1():
    assert set(DEFINITIONS) == set(ITEMS)
    for code, definition in DEFINITIONS.items():
        assert definition.code == code
        assert definition.version == f"{code}@1"
        assert get_definition(code) is definition


@pytest.mark.parametrize("code", sorted(ITEMS))
def test_items_and_allowed_values_match_the_product_table(code):
    definition = get_definition(code)
    assert {item.key: item.allowed for item in definition.items} == ITEMS[code]
    assert [item.key for item in definition.items] == list(ITEMS[code])


@pytest.mark.parametrize(("code", "expected"), sorted(MAX_TOTALS.items()))
def test_max_total(code, expected):
    definition = get_definition(code)
    highest = {item.key: max(item.allowed) for item in definition.items}
    assert definition.max_total == expected
    assert score(definition, highest).total == expected
    assert score(definition, highest).max_total == expected


def test_dsm5_counts_true_criteria():
    responses = dict.fromkeys(ITEMS["dsm5_sud"], False) | {"craving": True, "tolerance": True}
    assert score(get_definition("dsm5_sud"), responses).total == 2


def test_unknown_instrument_is_refused():
    with pytest.raises(UnknownInstrumentError, match="kratom_scale"):
        get_definition("kratom_scale")


def test_registry_and_definitions_are_read_only():
    with pytest.raises(TypeError):
        DEFINITIONS["new"] = get_definition("cows")  # type: ignore[index]
    with pytest.raises(TypeError):
        get_definition("cows").alert_thresholds["severity"] = 1  # type: ignore[index]


# --- Bands and flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "total", "band"), BAND_BOUNDARIES)
def test_band_boundaries(code, total, band):
    definition = get_definition(code)
    result = score(definition, responses_totalling(definition, total))
    assert result.total == total
    assert result.band == band
    assert result.instrument == code
    assert result.version == f"{code}@1"


@pytest.mark.parametrize(
    ("code", "total", "flags"),
    [
        ("cows", 24, ()),
        ("cows", 25, ("severity_alert",)),
        ("cows", 48, ("severity_alert",)),
        ("ciwa_ar", 15, ()),
        ("ciwa_ar", 16, ("severity_alert",)),
        ("ciwa_ar", 67, ("severity_alert",)),
        ("gad7", 21, ()),
        ("audit_c", 12, ()),
        ("dsm5_sud", 11, ()),
    ],
)
def test_severity_alert_threshold(code, total, flags):
    definition = get_definition(code)
    assert score(definition, responses_totalling(definition, total)).flags == flags


@pytest.mark.parametrize(("q9", "flags"), [(0, ()), (1, ("safety",)), (2, ("safety",)), (3, ("safety",))])
def test_phq9_item9_raises_safety_flag_whatever_the_total(q9, flags):
    responses = dict.fromkeys(ITEMS["phq9"], 0) | {"q9": q9}
    result = score(get_definition("phq9"), responses)
    assert result.flags == flags
    assert result.band == "minimal"


def test_phq9_high_total_without_item9_has_no_safety_flag():
    responses = dict.fromkeys(ITEMS["phq9"], 3) | {"q9": 0}
    result = score(get_definition("phq9"), responses)
    assert (result.total, result.band, result.flags) == (24, "severe", ())


@pytest.mark.parametrize(
    ("sex", "total", "band"),
    [
        (None, 3, "negative"),
        (None, 4, "positive"),
        ("male", 3, "negative"),
        ("male", 4, "positive"),
        ("female", 2, "negative"),
        ("female", 3, "positive"),
        ("female", 4, "positive"),
        ("other", 3, "negative"),
    ],
)
def test_audit_c_is_positive_earlier_for_female_sex(sex, total, band):
    definition = get_definition("audit_c")
    assert score(definition, responses_totalling(definition, total), sex=sex).band == band


def test_sex_only_matters_for_definitions_with_sex_bands():
    definition = get_definition("phq9")
    responses = responses_totalling(definition, 4)
    assert score(definition, responses, sex="female") == score(definition, responses)


# --- Validation -----------------------------------------------------------------------------------


def errors_for(code: str, responses: object, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(InstrumentResponseError) as caught:
        score(get_definition(code), responses, **kwargs)  # type: ignore[arg-type]
    assert caught.value.instrument == code
    return caught.value.errors


def test_missing_item_is_named():
    responses = lowest(get_definition("cows"))
    del responses["sweating"]
    assert errors_for("cows", responses) == {"sweating": ["This item is required."]}


def test_unknown_key_is_named():
    responses = lowest(get_definition("cows")) | {"unknown_key": 0}
    assert errors_for("cows", responses) == {"unknown_key": ["Unknown item."]}


@pytest.mark.parametrize(
    ("code", "key", "value", "message"),
    [
        ("cows", "pulse", 3, "3 is not an allowed value; allowed: 0, 1, 2, 4."),
        ("cows", "gooseflesh", 1, "1 is not an allowed value; allowed: 0, 3, 5."),
        ("cows", "sweating", 5, "5 is not an allowed value; allowed: 0, 1, 2, 3, 4."),
        ("cows", "sweating", -1, "-1 is not an allowed value; allowed: 0, 1, 2, 3, 4."),
        ("ciwa_ar", "orientation", 5, "5 is not an allowed value; allowed: 0, 1, 2, 3, 4."),
        ("phq9", "q9", 4, "4 is not an allowed value; allowed: 0, 1, 2, 3."),
    ],
)
def test_value_outside_the_allowed_set(code, key, value, message):
    responses = lowest(get_definition(code)) | {key: value}
    assert errors_for(code, responses) == {key: [message]}


@pytest.mark.parametrize("value", [True, False, "2", "", 2.0, 0.0, None, [1], {"v": 1}])
def test_integer_item_rejects_other_types(value):
    responses = lowest(get_definition("cows")) | {"pulse": value}
    assert errors_for("cows", responses) == {"pulse": ["Expected an integer; allowed: 0, 1, 2, 4."]}


@pytest.mark.parametrize("value", [1, 0, "true", "false", 1.0, None])
def test_boolean_item_rejects_other_types(value):
    responses = lowest(get_definition("dsm5_sud")) | {"craving": value}
    assert errors_for("dsm5_sud", responses) == {"craving": ["Expected true or false; allowed: false, true."]}


def test_every_problem_is_reported_together():
    responses = lowest(get_definition("cows")) | {"pulse": 3, "tremor": True, "extra": 1, "other": 2}
    del responses["sweating"]
    del responses["gooseflesh"]
    assert errors_for("cows", responses) == {
        "pulse": ["3 is not an allowed value; allowed: 0, 1, 2, 4."],
        "sweating": ["This item is required."],
        "tremor": ["Expected an integer; allowed: 0, 1, 2, 4."],
        "gooseflesh": ["This item is required."],
        "extra": ["Unknown item."],
        "other": ["Unknown item."],
    }


def test_empty_responses_name_every_item():
    assert errors_for("gad7", {}) == {key: ["This item is required."] for key in ITEMS["gad7"]}


@pytest.mark.parametrize("responses", [None, [], [("q1", 0)], "q1=0", 3])
def test_responses_that_are_not_a_mapping(responses):
    assert errors_for("gad7", responses) == {"responses": ["Expected an object mapping item keys to values."]}


def test_any_read_only_mapping_is_accepted():
    responses: Mapping[str, ResponseValue] = MappingProxyType(lowest(get_definition("gad7")))
    assert score(get_definition("gad7"), responses).total == 0


def test_error_message_names_items_not_values():
    with pytest.raises(InstrumentResponseError, match=r"^Invalid responses for cows: pulse\.$"):
        score(get_definition("cows"), lowest(get_definition("cows")) | {"pulse": 3})


# --- Properties over random valid responses ---------------------------------------------------------


@given(definitions_and_responses, st.sampled_from([None, "female", "male"]))
def test_total_is_the_sum_or_count_and_its_band_contains_it(definition_and_responses, sex):
    definition, responses = definition_and_responses
    result = score(definition, responses, sex=sex)
    if definition.scoring == "count_true":
        assert result.total == sum(1 for value in responses.values() if value is True)
    else:
        assert result.total == sum(responses.values())
    assert 0 <= result.total <= result.max_total
    band = definition.band_for(result.total, sex=sex)
    assert band.name == result.band
    assert band.low <= result.total <= band.high


@given(definitions_and_responses, st.data())
def test_a_higher_total_never_gets_an_earlier_band(definition_and_responses, data):
    definition, responses = definition_and_responses
    other = data.draw(valid_responses(definition))
    sex = data.draw(st.sampled_from([None, "female"]))
    bands = [band.name for band in definition.bands_for(sex)]
    first, second = sorted(
        (score(definition, responses, sex=sex), score(definition, other, sex=sex)),
        key=lambda result: result.total,
    )
    assert bands.index(first.band) <= bands.index(second.band)


@pytest.mark.parametrize("code", sorted(ITEMS))
def test_band_order_is_monotonic_over_every_total(code):
    definition = get_definition(code)
    for bands in (definition.bands, *definition.sex_bands.values()):
        indexes = [
            next(i for i, band in enumerate(bands) if band.contains(total)) for total in range(MAX_TOTALS[code] + 1)
        ]
        assert indexes == sorted(indexes)
        assert indexes[0] == 0
        assert indexes[-1] == len(bands) - 1


@given(definitions_and_responses, st.data())
def test_a_missing_item_is_always_named(definition_and_responses, data):
    definition, responses = definition_and_responses
    missing = data.draw(st.sampled_from(sorted(responses)))
    del responses[missing]
    with pytest.raises(InstrumentResponseError) as caught:
        score(definition, responses)
    assert caught.value.errors == {missing: ["This item is required."]}


# --- Facility overrides ---------------------------------------------------------------------------

ALTERNATIVE_CIWA_BANDS = (Band("mild", 0, 9), Band("moderate", 10, 18), Band("severe", 19, 67))


@pytest.mark.parametrize(
    ("total", "band", "flags"),
    [
        (0, "mild", ()),
        (9, "mild", ()),
        (10, "moderate", ()),
        (18, "moderate", ()),
        (19, "severe", ("severity_alert",)),
        (67, "severe", ("severity_alert",)),
    ],
)
def test_alternative_ciwa_bands(total, band, flags):
    default = get_definition("ciwa_ar")
    facility = default.with_overrides(
        version="ciwa_ar@facility-7", bands=ALTERNATIVE_CIWA_BANDS, alert_thresholds={"severity": 19}
    )
    result = score(facility, responses_totalling(facility, total))
    assert (result.total, result.band, result.flags) == (total, band, flags)
    assert result.version == "ciwa_ar@facility-7"
    assert result.instrument == "ciwa_ar"


def test_override_leaves_the_default_untouched():
    default = get_definition("ciwa_ar")
    default.with_overrides(version="ciwa_ar@2", bands=ALTERNATIVE_CIWA_BANDS)
    assert get_definition("ciwa_ar") is default
    result = score(default, responses_totalling(default, 16))
    assert (result.band, result.version, result.flags) == ("severe", "ciwa_ar@1", ("severity_alert",))


def test_override_of_thresholds_only_keeps_the_bands():
    facility = get_definition("cows").with_overrides(version="cows@quiet", alert_thresholds={})
    result = score(facility, responses_totalling(facility, 30))
    assert (result.band, result.flags, result.version) == ("moderately_severe", (), "cows@quiet")


def test_override_of_sex_bands():
    facility = get_definition("audit_c").with_overrides(
        version="audit_c@2", sex_bands={"female": (Band("negative", 0, 3), Band("positive", 4, 12))}
    )
    assert score(facility, responses_totalling(facility, 3), sex="female").band == "negative"


@pytest.mark.parametrize(
    ("lows_and_highs", "message"),
    [
        (((0, 9), (11, 18), (19, 67)), "Gap between 'mild' .ends at 9. and 'moderate' .starts at 11."),
        (((0, 10), (10, 18), (19, 67)), "'mild' .ends at 10. overlaps 'moderate' .starts at 10."),
        (((0, 9), (10, 18), (19, 60)), "must end at the maximum total 67; 'severe' ends at 60"),
        (((0, 9), (10, 18), (19, 70)), "must end at the maximum total 67; 'severe' ends at 70"),
        (((1, 9), (10, 18), (19, 67)), "must start at 0; 'mild' starts at 1"),
        (((0, 9), (19, 67), (10, 18)), "Gap between 'mild'"),
        (((0, 9), (10, 8), (9, 67)), "'moderate' starts at 10, after its end 8"),
    ],
)
def test_invalid_band_tables_are_rejected(lows_and_highs, message):
    names = ("mild", "moderate", "severe")
    bands = [Band(name, low, high) for name, (low, high) in zip(names, lows_and_highs, strict=True)]
    with pytest.raises(ValueError, match=message):
        get_definition("ciwa_ar").with_overrides(version="ciwa_ar@bad", bands=bands)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ((Band("mild", 0, 9), Band("mild", 10, 67)), "'mild' is used more than once"),
        ((), "At least one band"),
    ],
)
def test_band_tables_with_unusable_names_are_rejected(bands, message):
    with pytest.raises(ValueError, match=message):
        get_definition("ciwa_ar").with_overrides(version="ciwa_ar@bad", bands=bands)


def test_invalid_sex_band_table_is_rejected():
    with pytest.raises(ValueError, match="bands for sex 'female': Gap"):
        get_definition("audit_c").with_overrides(
            version="audit_c@bad", sex_bands={"female": (Band("negative", 0, 2), Band("positive", 4, 12))}
        )


@pytest.mark.parametrize("threshold", [-1, 68, True, "16", 16.0])
def test_invalid_alert_threshold_is_rejected(threshold):
    with pytest.raises(ValueError, match="Alert threshold 'severity'"):
        get_definition("ciwa_ar").with_overrides(version="ciwa_ar@bad", alert_thresholds={"severity": threshold})


@pytest.mark.parametrize("version", ["ciwa_ar@1", ""])
def test_override_needs_a_new_version(version):
    with pytest.raises(ValueError, match="version"):
        get_definition("ciwa_ar").with_overrides(version=version, bands=ALTERNATIVE_CIWA_BANDS)


# --- Adding an instrument is adding a definition ----------------------------------------------------


def test_a_new_definition_scores_without_new_code():
    screener = InstrumentDefinition(
        code="craving_screen",
        name="Craving screen",
        version="craving_screen@1",
        items=(Item("urge", (0, 1, 2)), Item("intrusive", (0, 2, 4))),
        bands=(Band("low", 0, 2), Band("high", 3, 6)),
        alert_thresholds={"craving": 5},
        item_flags=(ItemFlag(item="intrusive", min_value=4, flag="intrusive_thoughts"),),
    )
    result = score(screener, {"urge": 1, "intrusive": 4})
    assert result == score(screener, {"intrusive": 4, "urge": 1})
    assert (result.total, result.band, result.flags, result.max_total) == (
        5,
        "high",
        ("intrusive_thoughts", "craving_alert"),
        6,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"items": ()}, "At least one item"),
        ({"items": (Item("a", (0, 1)), Item("a", (0, 1)))}, "'a' is defined more than once"),
        ({"items": (Item("a", ()),)}, "'a' allows no values"),
        ({"items": (Item("a", (False, True)),)}, "'a' must allow only non-negative integers"),
        ({"items": (Item("a", (-1, 0, 1)),)}, "'a' must allow only non-negative integers"),
        ({"items": (Item("a", (0, 1)),), "scoring": "count_true"}, "'a' must allow exactly true and false"),
        ({"item_flags": (ItemFlag(item="b", min_value=1, flag="x"),)}, "unknown item 'b'"),
        ({"bands": (Band("all", 0, 2),)}, "must end at the maximum total 1"),
    ],
)
def test_invalid_definitions_are_rejected(kwargs, message):
    base = {
        "code": "toy",
        "name": "Toy",
        "version": "toy@1",
        "items": (Item("a", (0, 1)),),
        "bands": (Band("low", 0, 0), Band("high", 1, 1)),
    }
    with pytest.raises(ValueError, match=message):
        InstrumentDefinition(**(base | kwargs))


def test_definitions_are_hashable_and_compare_by_value():
    cows = get_definition("cows")
    assert hash(cows) == hash(cows.with_overrides(version="cows@2").with_overrides(version="cows@1"))
    assert cows == cows.with_overrides(version="cows@2").with_overrides(version="cows@1")


def test_item_lookup_and_totals_outside_the_range():
    phq9 = get_definition("phq9")
    assert phq9.item("q9") == Item("q9", (0, 1, 2, 3))
    with pytest.raises(KeyError):
        phq9.item("q10")
    with pytest.raises(ValueError, match=r"total 28 is outside 0\.\.27"):
        phq9.band_for(28)
