import django_filters


class SyncFilterSet(django_filters.FilterSet):
    """Every list offers `updated_since` (ISO 8601 with offset) for offline delta sync."""

    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
