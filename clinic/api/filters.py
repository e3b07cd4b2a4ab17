import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with an offset, normalised to UTC. Offsets or years the database cannot hold are a 400."""

    default_error_messages = {"out_of_range": "Enter a date-time with a real UTC offset and year 1900-9999."}

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            utc = parsed.astimezone(datetime.UTC)
        except (OverflowError, ValueError) as error:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range") from error
        offset = parsed.utcoffset() or datetime.timedelta(0)
        if abs(offset) >= datetime.timedelta(hours=16) or not 1900 <= utc.year <= 9999:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return utc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Use this for every date-time filter (`updated_since`, `since`, ...)."""

    field_class = UtcIsoDateTimeField


class SyncFilterSet(django_filters.FilterSet):
    """Every list offers `updated_since` (ISO 8601 with offset) for offline delta sync."""

    updated_since = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
