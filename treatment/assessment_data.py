"""Structured parts of an assessment, as data: the urine drug screen panel and the ASAM dimension ratings.

Each `*_problems` function returns the problems per key (empty when valid); services raise them as
`<field>.<key>` in the error envelope, and the model-field validators reuse them for admin forms.
"""

from collections.abc import Mapping

from django.core.exceptions import ValidationError

# Analytes of the clinic's urine drug screen panel (kratom is screened as mitragynine).
DRUG_SCREEN_PANEL: tuple[str, ...] = (
    "alcohol",
    "amphetamines",
    "barbiturates",
    "benzodiazepines",
    "buprenorphine",
    "cannabinoids",
    "cocaine",
    "fentanyl",
    "methadone",
    "methamphetamine",
    "mitragynine",
    "opiates",
    "oxycodone",
    "phencyclidine",
)
DRUG_SCREEN_RESULTS: tuple[str, ...] = ("negative", "positive", "inconclusive", "not_tested")

# ASAM Criteria editions and their six dimensions; each dimension is rated for risk 0 (none) to 4 (severe).
ASAM_EDITIONS: tuple[tuple[str, str], ...] = (
    ("third", "ASAM Criteria, 3rd edition (2013)"),
    ("fourth", "ASAM Criteria, 4th edition (2023)"),
)
ASAM_DIMENSIONS: tuple[str, ...] = ("d1", "d2", "d3", "d4", "d5", "d6")
ASAM_RATINGS: tuple[int, ...] = (0, 1, 2, 3, 4)


def drug_screen_problems(results: object) -> dict[str, list[str]]:
    if not isinstance(results, Mapping):
        return {"urine_drug_screen": ["Expected an object mapping analytes to results."]}
    problems: dict[str, list[str]] = {}
    for analyte, result in results.items():
        if analyte not in DRUG_SCREEN_PANEL:
            problems[str(analyte)] = [f"Unknown analyte; the panel is {', '.join(DRUG_SCREEN_PANEL)}."]
        elif result not in DRUG_SCREEN_RESULTS:
            problems[analyte] = [f"Expected one of {', '.join(DRUG_SCREEN_RESULTS)}."]
    return problems


def asam_problems(ratings: object) -> dict[str, list[str]]:
    if not isinstance(ratings, Mapping):
        return {"asam_dimensions": ["Expected an object mapping dimensions d1..d6 to ratings 0-4."]}
    problems: dict[str, list[str]] = {}
    for dimension, rating in ratings.items():
        if dimension not in ASAM_DIMENSIONS:
            problems[str(dimension)] = [f"Unknown dimension; expected one of {', '.join(ASAM_DIMENSIONS)}."]
        elif isinstance(rating, bool) or not isinstance(rating, int) or rating not in ASAM_RATINGS:
            problems[dimension] = ["Expected a risk rating from 0 to 4."]
    return problems


def _raise(problems: dict[str, list[str]]) -> None:
    if problems:
        raise ValidationError(
            [ValidationError(f"{key}: {message}") for key, messages in problems.items() for message in messages]
        )


def validate_drug_screen(value) -> None:
    _raise(drug_screen_problems(value))


def validate_asam_dimensions(value) -> None:
    _raise(asam_problems(value))
