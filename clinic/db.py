"""Queries the ORM compiles once per database, for reads that run on every request of a hot path.

Django compiles a queryset's SQL anew each time it is evaluated (0.2-0.4 ms for a filtered read of one model,
more than PostgreSQL takes to run it once prepared). A `CompiledOnce` asks the ORM for the SQL a single time,
with sample values, and then runs that same text with the caller's values through `Model.objects.raw`: the
rows come back as the same model instances, from the same columns, as the queryset would give. On other
databases than PostgreSQL (SQLite for `make run`) the queryset itself runs.
"""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models


class CompiledOnce:
    """`build(*values)` returns a queryset of one model: filters, ordering, slicing, select_for_update and
    annotations (raw() sets each as an attribute of its row, as the queryset does), but no select_related,
    prefetch_related or only/defer (raw() builds one model's instances from all its columns). Its parameters
    must be exactly `values`, in order (checked when it is compiled), so the SQL can run with others.

    select_for_update() compiles to nothing on a database without it (SQLite), as with the queryset; unlike the
    queryset, a raw query does not check that a transaction is open: the caller must hold one.
    """

    def __init__(self, build: Callable[..., models.QuerySet], *sample) -> None:
        self._build = build
        self._sample = sample
        self._statements: dict[str, tuple[type[models.Model], str]] = {}

    def _statement(self, using: str) -> tuple[type[models.Model], str]:
        statement = self._statements.get(using)
        if statement is None:
            queryset = self._build(*self._sample)
            query = queryset.query
            if query.select_related or queryset._prefetch_related_lookups:
                raise ImproperlyConfigured("CompiledOnce loads one model's own columns: no related rows.")
            if query.deferred_loading != (frozenset(), True):
                raise ImproperlyConfigured("CompiledOnce loads every column: no only() or defer().")
            sql, params = query.get_compiler(using=using).as_sql()
            if tuple(params) != tuple(self._sample):
                raise ImproperlyConfigured(
                    f"CompiledOnce: the query's parameters {params!r} are not its values {self._sample!r} in order."
                )
            statement = (queryset.model, sql)
            self._statements[using] = statement
        return statement

    def rows(self, *values, using: str = DEFAULT_DB_ALIAS) -> list[models.Model]:
        if len(values) != len(self._sample):
            raise TypeError(f"{len(self._sample)} values expected, {len(values)} given")
        if connections[using].vendor != "postgresql":
            return list(self._build(*values).using(using))
        model, sql = self._statement(using)
        return list(model._default_manager.db_manager(using).raw(sql, list(values)))

    def first(self, *values, using: str = DEFAULT_DB_ALIAS) -> models.Model | None:
        """The first row (build a query sliced to [:1] for a LIMIT), or None."""
        rows = self.rows(*values, using=using)
        return rows[0] if rows else None
