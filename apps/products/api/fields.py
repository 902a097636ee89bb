"""Strict serializer fields shared by the product and decision bodies."""

from __future__ import annotations

from rest_framework import serializers


class StrictString(serializers.CharField):
    """A CharField that accepts only JSON strings (DRF would turn 5 into "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictList(serializers.ListField):
    """A list whose item errors are reported as ``field[index]``."""

    def run_child_validation(self, data):
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                as_list = [[] for _ in range(len(data))]
                for index, messages in exc.detail.items():
                    as_list[int(index)] = messages
                raise serializers.ValidationError(as_list) from None
            raise
