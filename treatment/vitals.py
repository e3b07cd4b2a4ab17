"""Vital signs: the plausible range of each, as data, and the one validator every vitals field uses.

A value outside its range is almost always a typing slip (a pulse of 720, a temperature in Fahrenheit), so
it is refused rather than stored. Detox observation rounds validate their vitals with the same table.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class VitalRange:
    unit: str
    low: float
    high: float
    integer: bool = True


VITAL_RANGES: Mapping[str, VitalRange] = {
    "pulse": VitalRange("beats/min", 20, 250),
    "systolic_bp": VitalRange("mmHg", 50, 300),
    "diastolic_bp": VitalRange("mmHg", 20, 200),
    "temperature_c": VitalRange("°C", 30.0, 45.0, integer=False),
    "respiratory_rate": VitalRange("breaths/min", 4, 60),
    "spo2": VitalRange("%", 50, 100),
}


def vitals_problems(vitals: object) -> dict[str, list[str]]:
    """Problems per vital sign key (an empty dict when the vitals are plausible)."""
    if not isinstance(vitals, Mapping):
        return {"vitals": ["Expected an object mapping vital sign names to numbers."]}
    problems: dict[str, list[str]] = {}
    for key, value in vitals.items():
        vital = VITAL_RANGES.get(key)
        if vital is None:
            problems[str(key)] = [f"Unknown vital sign; expected one of {', '.join(VITAL_RANGES)}."]
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or (vital.integer and value != int(value)):
            problems[key] = ["Expected a whole number." if vital.integer else "Expected a number."]
        elif not vital.low <= value <= vital.high:
            problems[key] = [f"Must be between {vital.low:g} and {vital.high:g} {vital.unit}."]
    systolic, diastolic = vitals.get("systolic_bp"), vitals.get("diastolic_bp")
    if not problems and systolic is not None and diastolic is not None and diastolic >= systolic:
        problems["diastolic_bp"] = ["Must be lower than the systolic pressure."]
    return problems


def validate_vitals(vitals: object) -> None:
    """Model-field validator: raises a ValidationError naming each implausible vital as `vitals.<key>`."""
    problems = vitals_problems(vitals)
    if problems:
        raise ValidationError(
            [ValidationError(f"{key}: {message}") for key, messages in problems.items() for message in messages]
        )
