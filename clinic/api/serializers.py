"""Serializer pieces every resource may use."""

import copy


class FieldsBuiltOnceMixin:
    """For ModelSerializers whose fields depend on their class alone (no per-request field changes), such as
    the output serializers of the hot reads: DRF builds the fields from the model for every serializer
    instance (deep copies of the declared fields, then build_field for each model field, about half the time
    of serialising one row); this builds them once per class and gives each instance a copy of its own.
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built
        return copy.deepcopy(built)
