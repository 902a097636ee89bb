"""drf-spectacular extensions: request constraints the serializers enforce that drf-spectacular does
not map by itself, read from the serializers so the document and the server share one rule.

Registered by being imported (``ApiConfig.ready``), before any document is generated.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers


class ClosedRequestBody(OpenApiSerializerExtension):
    """A ``StrictSerializer`` refuses the fields it does not know ("Unknown field."): its request
    schema allows no other property, and adds the serializer's ``schema_constraints`` (rules of its
    ``validate`` that JSON Schema can state, declared beside them; a serializer class in them stands
    for a reference to its component, for a value ``validate`` checks with that serializer)."""

    target_class = "synchronex.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema.update(_resolved(getattr(self.target, "schema_constraints", {}), auto_schema, direction))
            schema["additionalProperties"] = False
        return schema


def _resolved(value, auto_schema, direction):
    """``value`` with each serializer class in it replaced by a reference to its component."""
    if isinstance(value, type) and issubclass(value, serializers.BaseSerializer):
        return auto_schema.resolve_serializer(value, direction).ref
    if isinstance(value, dict):
        return {key: _resolved(item, auto_schema, direction) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, auto_schema, direction) for item in value]
    return value


class BoundedList(OpenApiSerializerFieldExtension):
    """``many=True`` serializers check their ``min_length``/``max_length``/``allow_empty`` in
    ``ListSerializer.to_internal_value``, which drf-spectacular leaves out (it maps a ``ListField``'s)."""

    target_class = "rest_framework.serializers.ListSerializer"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._unwrap_list_serializer(self.target, direction)
        if direction != "request" or schema is None:
            return schema
        minimum = self.target.min_length if self.target.min_length is not None else int(not self.target.allow_empty)
        if minimum:
            schema["minItems"] = minimum
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema
