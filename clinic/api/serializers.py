"""Serializer pieces every resource may use."""

import copy

from django.db import models
from rest_framework import serializers
from rest_framework.fields import Field
from rest_framework.serializers import BaseSerializer


class DateTimeField(serializers.DateTimeField):
    """DRF's DateTimeField, reading the current time zone once per field instead of once per value (an asgiref
    Local, ~5 us a read: a page of 20 rows with 2 timestamps read it 40 times). A bound field serves one
    serializer, that is one response, in which the time zone in effect does not change."""

    def default_timezone(self):
        try:
            return self._default_timezone_read
        except AttributeError:
            self._default_timezone_read = super().default_timezone()
            return self._default_timezone_read


def _holds_no_field(field: Field) -> bool:
    """True for a leaf field: not a serializer, and holding no other field (a ListField's child, a many
    relation's child_relation, a parent), so a copy of its attributes is a field of its own once bound."""
    if isinstance(field, BaseSerializer):
        return False
    return not any(isinstance(value, Field) for value in vars(field).values())


def _leaf_copy(field: Field) -> Field:
    """A new field with the same attributes as `field`. Binding sets attributes on the copy (field_name,
    parent, label, source, source_attrs, a SerializerMethodField's method_name), never on the original; the
    attributes shared with it (its constructor arguments, choices, validators) are only read, as they are
    between the copies copy.deepcopy makes, which rebuild the field from the same arguments."""
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class FieldsBuiltOnceMixin:
    """For ModelSerializers whose fields depend on their class alone (no per-request field changes), such as
    the output serializers of the hot reads: DRF builds the fields from the model for every serializer
    instance (deep copies of the declared fields, then build_field for each model field, about half the time
    of serialising one row); this builds them once per class and gives each instance a copy of its own:
    leaf fields as a copy of their attributes, nested serializers and fields holding fields as deep copies.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            fields = super().get_fields()
            built = [(name, field, _holds_no_field(field)) for name, field in fields.items()]
            cls._fields_built_once = built
        return {name: _leaf_copy(field) if leaf else copy.deepcopy(field) for name, field, leaf in built}
