"""Hooks that later apps fill in at start-up (AppConfig.ready), so patients never imports them.

The patient list's `stage` filter (the stage of the patient's open episode) belongs to treatment's data:
treatment registers how to filter and which stages exist, e.g. in TreatmentConfig.ready:

    register_stage_filter(
        lambda patients, stage: patients.filter(episodes__closed_at__isnull=True, episodes__stage=stage),
        choices=Stage.values,
    )
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
