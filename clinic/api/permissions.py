"""Fail-closed permission check against the role table (clinic.accounts.roles).

A view names the role-table action for each of its viewset actions (or HTTP methods) in
`action_permissions`. An action it does not name is refused, so a new endpoint is closed until someone
writes its rule. Object-level scoping is not done here: querysets are scoped (clinic.scoping), so a row
outside the caller's scope is a 404 before any permission is asked.
"""

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from clinic.accounts.roles import role_may


def required_action(view, request) -> str | None:
    table = getattr(view, "action_permissions", None) or {}
    key = getattr(view, "action", None) or request.method.lower()
    if key is None:  # an OPTIONS request on a viewset
        key = request.method.lower()
    return table.get(key)


class RolePermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            raise exceptions.NotAuthenticated()
        if not user.is_active:
            return False
        action = required_action(view, request)
        if request.method == "OPTIONS" and action is None:
            return True
        return action is not None and role_may(user.role, action)
