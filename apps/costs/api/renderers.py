"""JSON with exact money: a ``Decimal`` is written as a JSON number with its decimal digits.

DRF's encoder turns a Decimal into a float, which cannot hold every 6-decimal amount exactly
(and prints small ones as ``1e-06``). Here the digits go into the JSON text unchanged.
"""

from __future__ import annotations

import json
from decimal import Decimal

from rest_framework.renderers import JSONRenderer
from rest_framework.utils import encoders

from apps.costs.pricing import QUANTUM


def decimal_literal(value: Decimal) -> str:
    """``value`` as a plain JSON number with at most 6 decimals and no exponent or trailing zeros."""
    if not value.is_finite():
        raise ValueError("A money amount must be finite.")
    text = format(value.quantize(QUANTUM).normalize(), "f")
    return "0" if text in ("-0", "0") else text


class ExactDecimalJSONRenderer(JSONRenderer):
    """DRF's compact JSON, except that Decimals are exact numbers (≤ 6 decimals)."""

    def _encode(self, value) -> str:
        if isinstance(value, Decimal):
            return decimal_literal(value)
        if isinstance(value, dict):
            items = (f"{self._scalar(str(key))}:{self._encode(item)}" for key, item in value.items())
            return "{" + ",".join(items) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ",".join(self._encode(item) for item in value) + "]"
        return self._scalar(value)

    def _scalar(self, value) -> str:
        return json.dumps(value, cls=encoders.JSONEncoder, ensure_ascii=self.ensure_ascii, allow_nan=not self.strict)

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        text = self._encode(data)
        # As DRF does: keep the output a strict JavaScript subset.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
