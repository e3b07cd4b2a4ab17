"""Serializer pieces every resource may use."""

import copy
from operator import attrgetter

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from rest_framework import serializers
from rest_framework.fields import Field, SkipField
from rest_framework.relations import PKOnlyObject, PrimaryKeyRelatedField, RelatedField
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


def _column_reader(model: type[models.Model], field: Field):
    """For a field showing one column of `model`: (a function reading the column from an instance, whether the
    field's to_representation converts the value). DRF reaches the same value through Field.get_attribute
    (a loop over the source's parts, a Mapping check, a callable check) or, for a primary-key relation,
    RelatedField.get_attribute (serializable_value, a PKOnlyObject) and to_representation (its .pk).
    None for any other field, or any field class that reads or renders its own way: those take DRF's way."""
    if len(field.source_attrs) != 1:
        return None
    try:
        column = model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None
    if not column.concrete:
        return None
    kind = type(field)
    if column.is_relation:
        pk_only = (
            kind.get_attribute is RelatedField.get_attribute
            and kind.to_representation is PrimaryKeyRelatedField.to_representation
            and field.pk_field is None
            and field.use_pk_only_optimization()
        )
        return (attrgetter(column.attname), False) if pk_only else None
    if kind.get_attribute is Field.get_attribute:
        return (attrgetter(column.attname), True)
    return None


class FieldsBuiltOnceMixin:
    """For ModelSerializers whose fields depend on their class alone (no per-request field changes), such as
    the output serializers of the hot reads: DRF builds the fields from the model for every serializer
    instance (deep copies of the declared fields, then build_field for each model field, about half the time
    of serialising one row); this builds them once per class and gives each instance a copy of its own:
    leaf fields as a copy of their attributes, nested serializers and fields holding fields as deep copies.

    It also represents a model instance with less work per field (see _column_reader): the same dict as
    DRF's Serializer.to_representation, field for field and in the same order (a test compares the two for
    every serializer using it); fields that are not one plain column take DRF's way.
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

    def _representation_plan(self) -> list:
        """(name, field, reader, converts) per readable field, for this serializer's own bound fields."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            cls = type(self)
            readers = cls.__dict__.get("_column_readers")
            if readers is None:
                model = self.Meta.model
                readers = {name: _column_reader(model, field) for name, field in self.fields.items()}
                cls._column_readers = readers
            plan = [
                (name, field, *(readers.get(name) or (None, False)))
                for name, field in self.fields.items()
                if not field.write_only
            ]
            self._plan = plan
        return plan

    def to_representation(self, instance):
        model = getattr(getattr(self, "Meta", None), "model", None)
        if model is None or not isinstance(instance, model):
            return super().to_representation(instance)
        ret = {}
        for name, field, read, converts in self._representation_plan():
            if read is not None:
                value = read(instance)
                ret[name] = value if value is None or not converts else field.to_representation(value)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            if (attribute.pk if isinstance(attribute, PKOnlyObject) else attribute) is None:
                ret[name] = None
            else:
                ret[name] = field.to_representation(attribute)
        return ret
