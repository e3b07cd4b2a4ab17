"""Hooks that later apps fill in at start-up (AppConfig.ready), so patients never imports them.

The patient list's `stage` filter (the stage of the patient's open episode) belongs to treatment's data:
treatment registers how to filter and which stages exist, e.g. in TreatmentConfig.ready:

    register_stage_filter(
        lambda patients, stage: patients.filter(episodes__closed_at__isnull=True, episodes__stage=stage),
        choices=Stage.values,
    )

A patient's transfer to another facility may be refused by a later app (treatment: an open episode must be
discharged first): `register_transfer_guard(guard)`, where `guard(patient)` returns a reason or None.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import QuerySet


@dataclass(frozen=True)
class StageFilter:
    apply: Callable[[QuerySet, str], QuerySet]
    choices: tuple[str, ...]


_stage_filter: StageFilter | None = None


def register_stage_filter(apply: Callable[[QuerySet, str], QuerySet], *, choices: Iterable[str]) -> None:
    global _stage_filter  # one process-wide registration, made at start-up
    _stage_filter = StageFilter(apply=apply, choices=tuple(choices))


def stage_filter() -> StageFilter | None:
    return _stage_filter


_transfer_guards: list[Callable] = []


def register_transfer_guard(guard: Callable) -> None:
    """`guard(patient) -> str | None`: a reason the patient cannot move to another facility now, or None."""
    if guard not in _transfer_guards:
        _transfer_guards.append(guard)


def transfer_refusals(patient) -> list[str]:
    return [reason for guard in _transfer_guards if (reason := guard(patient))]
