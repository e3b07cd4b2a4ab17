"""The one scoping mechanism: who may see which rows.

Staff see the rows of the facilities they work in; a patient sees only rows about themself. Every model
served by the API or the admin declares how to reach its facility and its patient's user account with a
`Scope`, and every queryset shown to a person goes through `scope_queryset`. Rows out of scope simply do
not exist for the caller, so a detail lookup of one is a 404 exactly like a missing row.
"""

from dataclasses import dataclass

from django.db.models import Model, Q, QuerySet

from clinic.accounts.roles import Role


@dataclass(frozen=True)
class Scope:
    """How a model reaches its facility and its patient.

    `facility`: lookup path to the Facility, e.g. "patient__facility".
    `patient`: lookup path to the Patient, e.g. "episode__patient"; "" when the model is the Patient itself;
    None for staff-only records that no patient ever sees.
    """

    facility: str
    patient: str | None

    @property
    def patient_user(self) -> str | None:
        if self.patient is None:
            return None
        return f"{self.patient}__user" if self.patient else "user"

    @property
    def patient_pk(self) -> str | None:
        if self.patient is None:
            return None
        return self.patient or "pk"


class ScopeNotDeclared(Exception):
    pass


def model_scope(model: type[Model]) -> Scope:
    scope = getattr(model, "SCOPE", None)
    if not isinstance(scope, Scope):
        raise ScopeNotDeclared(f"{model._meta.label} declares no SCOPE; it cannot be shown to anyone.")
    return scope


def scope_filter(model: type[Model], user) -> Q:
    """The filter that limits `model` to what `user` may see. Fails closed: unknown users see nothing."""
    scope = model_scope(model)
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.role == Role.PATIENT:
        if scope.patient_user is None:
            return Q(pk__in=[])
        return Q(**{scope.patient_user: user})
    if user.role in Role.values:
        return Q(**{f"{scope.facility}__in": user.facility_ids()})
    return Q(pk__in=[])


def scope_queryset(queryset: QuerySet, user) -> QuerySet:
    return queryset.filter(scope_filter(queryset.model, user))
