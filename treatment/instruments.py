"""Validated clinical instruments as data, and the one scoring function that applies them.

Each instrument is an `InstrumentDefinition`: its items with their allowed values, its bands, its alert
thresholds and item-level flags. Adding an instrument is adding one definition to `DEFINITIONS`; nothing
in `score` knows any instrument by name. A facility may change bands and thresholds with
`InstrumentDefinition.with_overrides`, under a new version string that every stored score keeps.

This module is pure Python (no Django) so the rules can be read and tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from types import MappingProxyType
from typing import Literal, cast

Scoring = Literal["sum", "count_true"]
ResponseValue = int | bool
# Who may record an instrument follows from its kind: the role table grants "observation.record_<kind>".
Kind = Literal["withdrawal", "screening", "diagnosis"]
KINDS: tuple[str, ...] = ("withdrawal", "screening", "diagnosis")


class InstrumentResponseError(ValueError):
    """Responses that cannot be scored; `errors` maps each offending item key to its messages."""

    def __init__(self, errors: dict[str, list[str]], *, instrument: str | None = None) -> None:
        self.errors = errors
        self.instrument = instrument
        super().__init__(f"Invalid responses for {instrument or 'instrument'}: {', '.join(errors)}.")


class UnknownInstrumentError(LookupError):
    """No instrument is registered under this code."""


@dataclass(frozen=True)
class Item:
    key: str
    allowed: tuple[ResponseValue, ...]

    @property
    def is_boolean(self) -> bool:
        return all(isinstance(value, bool) for value in self.allowed)


@dataclass(frozen=True)
class Band:
    name: str
    low: int
    high: int

    def contains(self, total: int) -> bool:
        return self.low <= total <= self.high


@dataclass(frozen=True)
class ItemFlag:
    """Raise `flag` when `item` is answered with `min_value` or more, whatever the total."""

    item: str
    min_value: int
    flag: str


@dataclass(frozen=True)
class InstrumentDefinition:
    code: str
    name: str
    version: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    scoring: Scoring = "sum"
    # Alert name -> total at or above which the score carries the flag "<name>_alert".
    alert_thresholds: Mapping[str, int] = field(default_factory=dict, hash=False)
    item_flags: tuple[ItemFlag, ...] = ()
    # Patient sex -> bands used instead of `bands` for that sex (AUDIT-C is positive earlier for women).
    sex_bands: Mapping[str, tuple[Band, ...]] = field(default_factory=dict, hash=False)
    kind: Kind = "screening"
    # Assessed once per substance (DSM-5): each observation names the substance it is about.
    per_substance: bool = False

    def __post_init__(self) -> None:
        # Read-only views, so a shared definition cannot be changed in place by one caller.
        object.__setattr__(self, "alert_thresholds", MappingProxyType(dict(self.alert_thresholds)))
        object.__setattr__(
            self, "sex_bands", MappingProxyType({sex: tuple(bands) for sex, bands in self.sex_bands.items()})
        )
        self._validate()

    @property
    def max_total(self) -> int:
        if self.scoring == "count_true":
            return len(self.items)
        return sum(max(item.allowed) for item in self.items)

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def bands_for(self, sex: str | None = None) -> tuple[Band, ...]:
        """The bands for a patient of this sex: its sex-specific bands if any, else the default ones."""
        return self.sex_bands.get(sex, self.bands) if sex is not None else self.bands

    def band_for(self, total: int, *, sex: str | None = None) -> Band:
        for band in self.bands_for(sex):
            if band.contains(total):
                return band
        raise ValueError(f"{self.code}: total {total} is outside 0..{self.max_total}.")

    def with_overrides(
        self,
        *,
        version: str,
        bands: Sequence[Band] | None = None,
        alert_thresholds: Mapping[str, int] | None = None,
        sex_bands: Mapping[str, Sequence[Band]] | None = None,
    ) -> InstrumentDefinition:
        """A facility's variant of this definition, validated like any other, under its own version."""
        if version == self.version:
            raise ValueError(f"{self.code}: an override needs a version other than {self.version!r}.")
        return replace(
            self,
            version=version,
            bands=self.bands if bands is None else tuple(bands),
            alert_thresholds=self.alert_thresholds if alert_thresholds is None else alert_thresholds,
            sex_bands=self.sex_bands if sex_bands is None else {s: tuple(b) for s, b in sex_bands.items()},
        )

    def _validate(self) -> None:
        problems = list(self._item_problems())
        if problems:  # bands and thresholds are checked against max_total, which needs sound items
            raise ValueError(f"{self.code} ({self.version}): " + " ".join(problems))
        problems = [
            *_band_problems(self.bands, self.max_total),
            *(
                f"bands for sex {sex!r}: {problem}"
                for sex, bands in self.sex_bands.items()
                for problem in _band_problems(bands, self.max_total)
            ),
            *self._threshold_problems(),
        ]
        if problems:
            raise ValueError(f"{self.code} ({self.version}): " + " ".join(problems))

    def _item_problems(self) -> Iterable[str]:
        if not self.version:
            yield "A version is required."
        if not self.items:
            yield "At least one item is required."
        if self.kind not in KINDS:
            yield f"Kind must be one of {', '.join(KINDS)}."
        keys = [item.key for item in self.items]
        for key in sorted({key for key in keys if keys.count(key) > 1}):
            yield f"Item {key!r} is defined more than once."
        for item in self.items:
            if not item.allowed:
                yield f"Item {item.key!r} allows no values."
            elif self.scoring == "count_true" and (not item.is_boolean or set(item.allowed) != {False, True}):
                yield f"Item {item.key!r} must allow exactly true and false."
            elif self.scoring == "sum" and not all(_is_count(v) for v in item.allowed):
                yield f"Item {item.key!r} must allow only non-negative integers."
        for item_flag in self.item_flags:
            if item_flag.item not in keys:
                yield f"Flag {item_flag.flag!r} refers to unknown item {item_flag.item!r}."

    def _threshold_problems(self) -> Iterable[str]:
        for name, threshold in self.alert_thresholds.items():
            if not _is_count(threshold) or threshold > self.max_total:
                yield f"Alert threshold {name!r} must be an integer in 0..{self.max_total}."


@dataclass(frozen=True)
class ScoreResult:
    instrument: str
    version: str
    total: int
    band: str
    flags: tuple[str, ...]
    max_total: int


def score(definition: InstrumentDefinition, responses: Mapping[str, object], *, sex: str | None = None) -> ScoreResult:
    """Validate `responses` against `definition` and score them.

    Raises InstrumentResponseError listing every problem at once, keyed by item key (or "responses"
    when `responses` is not a mapping at all). `sex` is the patient's sex, used only by definitions
    with sex-specific bands; an unlisted or missing sex gets the default bands.
    """
    values = _validated(definition, responses)
    total = sum(int(value) for value in values.values())
    flags = [item_flag.flag for item_flag in definition.item_flags if values[item_flag.item] >= item_flag.min_value]
    flags += [f"{name}_alert" for name, threshold in definition.alert_thresholds.items() if total >= threshold]
    return ScoreResult(
        instrument=definition.code,
        version=definition.version,
        total=total,
        band=definition.band_for(total, sex=sex).name,
        flags=tuple(dict.fromkeys(flags)),
        max_total=definition.max_total,
    )


def _validated(definition: InstrumentDefinition, responses: object) -> dict[str, ResponseValue]:
    if not isinstance(responses, Mapping):
        raise InstrumentResponseError(
            {"responses": ["Expected an object mapping item keys to values."]}, instrument=definition.code
        )
    errors: dict[str, list[str]] = {}
    values: dict[str, ResponseValue] = {}
    for item in definition.items:
        if item.key not in responses:
            errors[item.key] = ["This item is required."]
            continue
        value = responses[item.key]
        problem = _value_problem(item, value)
        if problem:
            errors[item.key] = [problem]
        else:
            values[item.key] = cast(ResponseValue, value)
    known = {item.key for item in definition.items}
    for key in responses:
        if key not in known:
            errors[str(key)] = ["Unknown item."]
    if errors:
        raise InstrumentResponseError(errors, instrument=definition.code)
    return values


def _value_problem(item: Item, value: object) -> str | None:
    allowed = ", ".join(_format(v) for v in item.allowed)
    # bool is a subclass of int in Python, so the type is checked before the (==-based) membership test.
    if item.is_boolean and not isinstance(value, bool):
        return f"Expected true or false; allowed: {allowed}."
    if not item.is_boolean and (isinstance(value, bool) or not isinstance(value, int)):
        return f"Expected an integer; allowed: {allowed}."
    if value not in item.allowed:
        return f"{_format(value)} is not an allowed value; allowed: {allowed}."
    return None


def _band_problems(bands: Sequence[Band], max_total: int) -> Iterable[str]:
    """Bands must cover 0..max_total in order, contiguously, without overlap."""
    if not bands:
        yield "At least one band is required."
        return
    names = [band.name for band in bands]
    for name in sorted({name for name in names if names.count(name) > 1}):
        yield f"Band name {name!r} is used more than once."
    if bands[0].low != 0:
        yield f"Bands must start at 0; {bands[0].name!r} starts at {bands[0].low}."
    for band in bands:
        if band.low > band.high:
            yield f"Band {band.name!r} starts at {band.low}, after its end {band.high}."
    for previous, following in pairwise(bands):
        if following.low > previous.high + 1:
            yield (
                f"Gap between {previous.name!r} (ends at {previous.high}) "
                f"and {following.name!r} (starts at {following.low})."
            )
        elif following.low <= previous.high:
            yield (
                f"{previous.name!r} (ends at {previous.high}) overlaps {following.name!r} (starts at {following.low})."
            )
    if bands[-1].high != max_total:
        yield f"Bands must end at the maximum total {max_total}; {bands[-1].name!r} ends at {bands[-1].high}."


def _is_count(value: object) -> bool:
    """A non-negative int that is not a bool (bool is a subclass of int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scale(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1))


def _items(keys: Iterable[str], allowed: tuple[ResponseValue, ...]) -> tuple[Item, ...]:
    return tuple(Item(key, allowed) for key in keys)


YES_NO = (False, True)

COWS = InstrumentDefinition(
    code="cows",
    name="Clinical Opiate Withdrawal Scale",
    version="cows@1",
    items=(
        Item("pulse", (0, 1, 2, 4)),
        Item("sweating", _scale(0, 4)),
        Item("restlessness", (0, 1, 3, 5)),
        Item("pupils", (0, 1, 2, 5)),
        Item("aches", (0, 1, 2, 4)),
        Item("rhinorrhea", (0, 1, 2, 4)),
        Item("gi_upset", (0, 1, 2, 3, 5)),
        Item("tremor", (0, 1, 2, 4)),
        Item("yawning", (0, 1, 2, 4)),
        Item("anxiety", (0, 1, 2, 4)),
        Item("gooseflesh", (0, 3, 5)),
    ),
    bands=(
        Band("none", 0, 4),
        Band("mild", 5, 12),
        Band("moderate", 13, 24),
        Band("moderately_severe", 25, 36),
        Band("severe", 37, 48),
    ),
    alert_thresholds={"severity": 25},
    kind="withdrawal",
)

CIWA_AR = InstrumentDefinition(
    code="ciwa_ar",
    name="Clinical Institute Withdrawal Assessment for Alcohol, revised",
    version="ciwa_ar@1",
    items=(
        Item("nausea", _scale(0, 7)),
        Item("tremor", _scale(0, 7)),
        Item("sweats", _scale(0, 7)),
        Item("anxiety", _scale(0, 7)),
        Item("agitation", _scale(0, 7)),
        Item("tactile", _scale(0, 7)),
        Item("auditory", _scale(0, 7)),
        Item("visual", _scale(0, 7)),
        Item("headache", _scale(0, 7)),
        Item("orientation", _scale(0, 4)),
    ),
    bands=(
        Band("minimal", 0, 8),
        Band("moderate", 9, 15),
        Band("severe", 16, 67),
    ),
    alert_thresholds={"severity": 16},
    kind="withdrawal",
)

PHQ9 = InstrumentDefinition(
    code="phq9",
    name="Patient Health Questionnaire-9",
    version="phq9@1",
    items=_items((f"q{n}" for n in range(1, 10)), _scale(0, 3)),
    bands=(
        Band("minimal", 0, 4),
        Band("mild", 5, 9),
        Band("moderate", 10, 14),
        Band("moderately_severe", 15, 19),
        Band("severe", 20, 27),
    ),
    item_flags=(ItemFlag(item="q9", min_value=1, flag="safety"),),
)

GAD7 = InstrumentDefinition(
    code="gad7",
    name="Generalized Anxiety Disorder-7",
    version="gad7@1",
    items=_items((f"q{n}" for n in range(1, 8)), _scale(0, 3)),
    bands=(
        Band("minimal", 0, 4),
        Band("mild", 5, 9),
        Band("moderate", 10, 14),
        Band("severe", 15, 21),
    ),
)

AUDIT_C = InstrumentDefinition(
    code="audit_c",
    name="Alcohol Use Disorders Identification Test - Consumption",
    version="audit_c@1",
    items=_items(("q1", "q2", "q3"), _scale(0, 4)),
    bands=(
        Band("negative", 0, 3),
        Band("positive", 4, 12),
    ),
    sex_bands={
        "female": (
            Band("negative", 0, 2),
            Band("positive", 3, 12),
        ),
    },
)

# Assessed per substance. For a medication taken only as prescribed under medical supervision, the
# caller answers `tolerance` and `withdrawal` false: DSM-5 does not count them toward the diagnosis.
DSM5_SUD = InstrumentDefinition(
    code="dsm5_sud",
    name="DSM-5 Substance Use Disorder criteria",
    version="dsm5_sud@1",
    scoring="count_true",
    items=_items(
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
        YES_NO,
    ),
    bands=(
        Band("none", 0, 1),
        Band("mild", 2, 3),
        Band("moderate", 4, 5),
        Band("severe", 6, 11),
    ),
    kind="diagnosis",
    per_substance=True,
)

DEFINITIONS: Mapping[str, InstrumentDefinition] = MappingProxyType(
    {definition.code: definition for definition in (COWS, CIWA_AR, PHQ9, GAD7, AUDIT_C, DSM5_SUD)}
)


def instrument_choices() -> list[tuple[str, str]]:
    """(code, name) of every registered instrument, read at call time (for forms and API fields)."""
    return [(code, definition.name) for code, definition in DEFINITIONS.items()]


def get_definition(code: str) -> InstrumentDefinition:
    """The default definition registered under `code`."""
    try:
        return DEFINITIONS[code]
    except KeyError:
        raise UnknownInstrumentError(f"Unknown instrument {code!r}.") from None
