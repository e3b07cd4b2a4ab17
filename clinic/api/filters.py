import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.filters import QuerySetRequestMixin


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

    def get_form_class(self):
        """django-filter builds the form class anew for every request (every filter's form field, label and
        all); a filter set whose fields depend on its class alone builds it once. Not one that changes its
        filters per instance (its own __init__) or has filters whose choices come from the request (model
        choice filters): those build it every time, as django-filter does. Each request still gets a form
        of its own, with its own copies of the fields, as Django forms do from their class."""
        cls = type(self)
        form_class = cls.__dict__.get("_form_class_built_once")
        if form_class is None:
            form_class = super().get_form_class()
            if _form_depends_on_class_alone(self):
                cls._form_class_built_once = form_class
        return form_class


def _form_depends_on_class_alone(filterset: SyncFilterSet) -> bool:
    cls = type(filterset)
    own_init = any("__init__" in vars(klass) for klass in cls.__mro__[: cls.__mro__.index(SyncFilterSet)])
    request_choices = any(isinstance(filter_, QuerySetRequestMixin) for filter_ in filterset.filters.values())
    return not own_init and not request_choices and filterset.queryset.model is cls._meta.model
