"""Bearer-token authentication that loads the caller and their facility ids in one query.

Every scoped read needs `user.facility_ids()`; simplejwt's JWTAuthentication loads the user, then scoping
loads the facilities, two round trips per request. On PostgreSQL the facility ids come with the user row as
an array (in the facilities' usual order, by name), read fresh on every request exactly as before: adding or
removing a facility, deactivating a user or changing a role still takes effect on the next request. Elsewhere
(SQLite for `make run`) the second query stays.
"""

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from .models import Facility

FACILITY_IDS = "facility_id_array"


@functools.cache
def _user_with_facility_ids_sql() -> str:
    """One statement for the user row and their facility ids, ordered like User.facility_ids() (Facility's
    Meta.ordering, by name). Plain SQL: it runs on every request, and the ORM would compile it anew each time."""
    user = get_user_model()
    tables = {
        "users": user._meta.db_table,
        "facilities": Facility._meta.db_table,
        "through": user.facilities.through._meta.db_table,
        "id": user._meta.get_field(api_settings.USER_ID_FIELD).column,
        # The model's columns by name, not u.*: the statement is prepared on the connection, and a prepared
        # "*" fails ("cached plan must not change result type") once a migration adds a column to the table.
        "columns": ", ".join(f'u."{field.column}"' for field in user._meta.concrete_fields),
    }
    return (  # noqa: S608 - table and column names from the models; the id is a parameter
        "SELECT {columns}, ARRAY(SELECT f.id FROM {facilities} f JOIN {through} uf ON uf.facility_id = f.id"
        " WHERE uf.user_id = u.id ORDER BY f.name) AS {array} FROM {users} u WHERE u.{id} = %s"
    ).format(array=FACILITY_IDS, **tables)


def _load_user(user_id):
    users = get_user_model()._default_manager
    if connection.vendor != "postgresql":
        return users.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    user_id = users.model._meta.get_field(api_settings.USER_ID_FIELD).to_python(user_id)
    return next(iter(users.raw(_user_with_facility_ids_sql(), [user_id])), None)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's JWTAuthentication (same checks, same errors), with the facility ids loaded alongside."""

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        user = _load_user(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != authentication.get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        if FACILITY_IDS in user.__dict__:  # the cache User.facility_ids() fills on first use
            user._facility_ids = list(user.__dict__.pop(FACILITY_IDS))
        return user


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of this authentication: simplejwt's, under the same name (jwtAuth)."""

    target_class = JWTAuthentication
