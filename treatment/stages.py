"""The stage machine of an episode of care, in one table.

    assessment -> detox -> therapy -> aftercare -> discharged

Each row of `TRANSITIONS` is one legal move: from, to, the role-table action the person needs, whether a
reason and a discharge category are required, and the guards that must hold. Anything not in the table is
refused (409 with the allowed targets). `treatment.services.episode_transition` is the only code that moves
an episode, and it reads nothing but this module.

Later apps add their own requirements and reactions without treatment importing them: in their
`AppConfig.ready` they call `register_transition_guard(to_stage, guard)` (e.g. aftercare: "entering
aftercare needs a relapse-prevention plan") and `register_transition_handler(to_stage or "*", handler)`
(e.g. schedule check-ins on entering aftercare, cancel reminders on discharge). Handlers run after the
transition is stored, in the same transaction, so a failing handler undoes the transition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .models import Assessment, Episode, EpisodeTransition, Stage

if TYPE_CHECKING:
    from clinic.accounts.models import User


@dataclass(frozen=True)
class TransitionAttempt:
    """What a guard is asked about: this episode (locked) moving from `source` to `target`."""

    episode: Episode
    source: str
    target: str
    actor: User
    reason: str
    category: str


# A guard returns None when the move may happen, or a sentence saying what is missing.
Guard = Callable[[TransitionAttempt], str | None]
Handler = Callable[[Episode, EpisodeTransition], None]


def assessment_decided(attempt: TransitionAttempt) -> str | None:
    """Leaving assessment needs a completed assessment with an accepted setting."""
    decided = Assessment.objects.filter(
        episode=attempt.episode, status=Assessment.Status.COMPLETED, accepted_setting__gt=""
    ).exists()
    return None if decided else "Complete the assessment and accept a setting first."


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    action: str
    reason_required: bool = False
    category_required: bool = False
    guards: tuple[Guard, ...] = ()


OPEN_STAGES: tuple[str, ...] = (Stage.ASSESSMENT, Stage.DETOX, Stage.THERAPY, Stage.AFTERCARE)

# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    #          from              to               role-table action      reason  category  guards
    Transition(Stage.ASSESSMENT, Stage.DETOX,     "episode.transition",  False,  False,    (assessment_decided,)),
    # Skipping detox (mild dependence, no withdrawal risk) is a physician's decision, with its reason.
    Transition(Stage.ASSESSMENT, Stage.THERAPY,   "episode.skip_detox",  True,   False,    (assessment_decided,)),
    Transition(Stage.DETOX,      Stage.THERAPY,   "episode.transition",  False,  False),
    # Aftercare registers its relapse-prevention-plan guard for this move.
    Transition(Stage.THERAPY,    Stage.AFTERCARE, "episode.transition",  False,  False),
    # Discharge from any open stage: a category (completed, transferred, ...) and a reason.
    *(Transition(stage,          Stage.DISCHARGED, "episode.discharge",  True,   True) for stage in OPEN_STAGES),
)
# fmt: on

_TABLE: dict[tuple[str, str], Transition] = {(row.source, row.target): row for row in TRANSITIONS}
_registered_guards: dict[str, list[Guard]] = {}
_registered_handlers: dict[str, list[Handler]] = {}
ANY_STAGE = "*"


def transition_for(source: str, target: str) -> Transition | None:
    return _TABLE.get((source, target))


def allowed_targets(source: str) -> list[str]:
    """The stages the table allows from `source`, in journey order (before guards and roles)."""
    return [row.target for row in TRANSITIONS if row.source == source]


def register_transition_guard(to_stage: str, guard: Guard) -> None:
    """Add a requirement for entering `to_stage`. Registering the same guard twice has no effect."""
    if to_stage not in Stage.values:
        raise ValueError(f"Unknown stage {to_stage!r}.")
    guards = _registered_guards.setdefault(to_stage, [])
    if guard not in guards:
        guards.append(guard)


def register_transition_handler(to_stage: str, handler: Handler) -> None:
    """Call `handler(episode, transition)` after every move into `to_stage` ("*": after every move)."""
    if to_stage != ANY_STAGE and to_stage not in Stage.values:
        raise ValueError(f"Unknown stage {to_stage!r}.")
    handlers = _registered_handlers.setdefault(to_stage, [])
    if handler not in handlers:
        handlers.append(handler)


def unregister(to_stage: str, callback: Guard | Handler) -> None:
    """Remove a guard or handler (for tests that register their own)."""
    for registry in (_registered_guards, _registered_handlers):
        if callback in registry.get(to_stage, []):
            registry[to_stage].remove(callback)


def unmet_requirements(transition: Transition, attempt: TransitionAttempt) -> list[str]:
    guards = (*transition.guards, *_registered_guards.get(transition.target, ()))
    return [problem for guard in guards if (problem := guard(attempt)) is not None]


def run_handlers(episode: Episode, transition: EpisodeTransition) -> None:
    for handler in (*_registered_handlers.get(transition.to_stage, ()), *_registered_handlers.get(ANY_STAGE, ())):
        handler(episode, transition)
