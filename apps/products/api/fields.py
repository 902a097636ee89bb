"""Strict serializer fields shared by the product and decision bodies."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty

from apps.products.names import name_problem, normalise_product_name
from synchronex.text import nfc


class StrictString(serializers.CharField):
    """A CharField that accepts only JSON strings (DRF would turn 5 into "5"), NFC-normalised.

    The one field of the API's free text (REST and MCP bodies, and MIF import, which checks
    decisions, product states and the kernel with the same serializers): the string is put in NFC
    and then trimmed and checked, so lengths count NFC characters, as product names' do, and a
    composed and a decomposed spelling are stored as one text (``synchronex.text``).
    ``verbatim=True`` keeps the string as sent: an id the client compares byte for byte.
    """

    def __init__(self, *, verbatim: bool = False, **kwargs):
        self.verbatim = verbatim
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data if self.verbatim else nfc(data))


class ProductNameField(StrictString):
    """A product name in a body or a query (decisions, signals, the kernel's ``products``, search and
    export filters): the one rule of ``apps.products.names`` — NFC, trimmed (format characters too),
    then 1–100 characters without control, line separator, bidi or invisible characters — and the NFC name is what
    is stored. Lengths are the NFC name's, which may be shorter or longer than the string sent
    (``max_length``, for the OpenAPI document, is checked on it too). With ``allow_blank`` only the
    empty string is "no name" (``""``); a value of spaces or invisible characters is a blank name,
    refused as one, as every other surface refuses it."""

    def run_validation(self, data=empty):
        if data == "" and self.allow_blank:
            return ""
        # Past CharField's own blank check, which trims whitespace only: the rule's trim decides.
        return serializers.Field.run_validation(self, data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        name = normalise_product_name(data)
        problem = name_problem(name)
        if problem:
            raise serializers.ValidationError(problem)
        return name


class StrictList(serializers.ListField):
    """A list whose item errors are reported as ``field[index]``, refused by its length alone when
    it is longer than ``max_length``: DRF's ListField checks every item first and its length only
    after, so 300,000 numbers (600 KB, under the body limit) kept a web worker for 25 s and were
    answered one "Not a valid string." each (13 MB). The identity sections use this class too."""

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)

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
