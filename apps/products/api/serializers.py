"""Product state bodies and responses (SPEC §5).

Bounds: status ∈ active|paused|blocked|shipped|archived; each list ≤ 100 items of 1–500
characters (replacing the stored list); ``next_session_starts_here`` ≤ 4,000 characters (blank
clears it). Strings must be JSON strings (numbers are not coerced) and are trimmed.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.decisions.api.serializers import DecisionSerializer, decision_representation
from apps.decisions.selectors import decision_recent_for_product
from apps.products.api.fields import StrictList, StrictString
from apps.products.models import ProductState
from synchronex.api.openapi import NOT_BLANK
from synchronex.api.serializers import StrictChoice, StrictSerializer, iso_utc

LIST_MAX_ITEMS = 100
LIST_ITEM_MAX = 500
HANDOFF_MAX = 4_000
LIST_FIELDS = ("what_works", "what_is_blocked", "open_questions")


def _state_list(help_text: str) -> StrictList:
    return StrictList(
        child=StrictString(max_length=LIST_ITEM_MAX),
        max_length=LIST_MAX_ITEMS,
        required=False,
        help_text=f"{help_text} Replaces the stored list; ≤ {LIST_MAX_ITEMS} items of ≤ {LIST_ITEM_MAX} characters.",
    )


class ProductStateWriteSerializer(StrictSerializer):
    """``POST /memory/product/{name}/state``: every field optional; absent fields stay as they are."""

    # An item of spaces alone is trimmed to a blank one, and refused: stated in the OpenAPI document.
    schema_constraints = {"allOf": [{"properties": {name: {"items": {"pattern": NOT_BLANK}} for name in LIST_FIELDS}}]}

    status = StrictChoice(choices=ProductState.Status.choices, required=False)
    what_works = _state_list("What works today.")
    what_is_blocked = _state_list("What is blocked.")
    open_questions = _state_list("Open questions.")
    next_session_starts_here = StrictString(
        max_length=HANDOFF_MAX,
        allow_blank=True,
        required=False,
        help_text=f"The handoff for the next session (≤ {HANDOFF_MAX} characters; empty clears it).",
    )


class ProductSummarySerializer(serializers.Serializer):
    """A product in the products list."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=ProductState.Status.choices)
    what_works = serializers.ListField(child=serializers.CharField())
    what_is_blocked = serializers.ListField(child=serializers.CharField())
    open_questions = serializers.ListField(child=serializers.CharField())
    next_session_starts_here = serializers.CharField()
    last_session_summary = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()


class ProductStateSerializer(serializers.Serializer):
    """``GET``/``POST /memory/product/{name}/state``."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=ProductState.Status.choices)
    what_works = serializers.ListField(child=serializers.CharField())
    what_is_blocked = serializers.ListField(child=serializers.CharField())
    open_questions = serializers.ListField(child=serializers.CharField())
    next_session_starts_here = serializers.CharField()
    last_session_summary = serializers.CharField()
    recent_decisions = serializers.SerializerMethodField(
        help_text="The newest current decisions (≤ 5) of the product and of other products that list it in "
        "`affects_products`; empty for tokens without `decisions:read`."
    )
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField()
    scope = serializers.SerializerMethodField()

    @extend_schema_field(DecisionSerializer(many=True))
    def get_recent_decisions(self, product) -> list[dict]:
        return [decision_representation(decision) for decision in self.context["recent_decisions"]]

    def get_scope(self, product) -> str:
        return self.context["scope"]


class ProductStateWrittenSerializer(serializers.Serializer):
    """The answer to a product state write by a token without `memory:read`: where the write
    landed and the fields it set, as stored; nothing else of the state."""

    # Its OpenAPI schema allows no other field (CLOSED_SCHEMAS in synchronex/api/openapi.py), so
    # a whole state never fits it as well as ProductState in the answer's oneOf.

    name = serializers.CharField()
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField()
    scope = serializers.CharField()
    status = serializers.ChoiceField(choices=ProductState.Status.choices, required=False)
    what_works = serializers.ListField(child=serializers.CharField(), required=False)
    what_is_blocked = serializers.ListField(child=serializers.CharField(), required=False)
    open_questions = serializers.ListField(child=serializers.CharField(), required=False)
    next_session_starts_here = serializers.CharField(required=False)


def product_state_body(product, recent_decisions, scope: str) -> dict:
    """``ProductStateSerializer``'s output, built without running it: every product read and write
    answers with it, and the serializer cost ~0.3 ms per response. A property test
    (apps/products/tests/test_state_body.py) holds the two to the same JSON."""
    return {
        "name": str(product.name),
        "status": str(product.status),
        "what_works": [str(item) for item in product.what_works],
        "what_is_blocked": [str(item) for item in product.what_is_blocked],
        "open_questions": [str(item) for item in product.open_questions],
        "next_session_starts_here": str(product.next_session_starts_here),
        "last_session_summary": str(product.last_session_summary),
        "recent_decisions": [decision_representation(decision) for decision in recent_decisions],
        "updated_at": iso_utc(product.updated_at),
        "version": int(product.version),
        "scope": scope,
    }


class ProductListSerializer(serializers.Serializer):
    """The paged products list."""

    results = ProductSummarySerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    scope = serializers.CharField()


# The answer to a write by a token that may not read product states (see ``product_write_body``).
WRITE_ONLY_FIELDS = frozenset({"name", "version", "updated_at", "scope"})


def product_write_body(product, scope: str, *, changes: dict, allows) -> dict:
    """The answer to a product state write (REST and MCP): the whole state for a credential that
    may read it (``allows``: the credential's scope check), else only ``WRITE_ONLY_FIELDS`` and
    the fields the write set (``changes``), so ``memory:write`` alone never reads a state."""
    if allows("memory:read"):
        return product_state_body(
            product, decision_recent_for_product(product=product, readable=allows("decisions:read")), scope
        )
    body = product_state_body(product, (), scope)
    return {key: value for key, value in body.items() if key in WRITE_ONLY_FIELDS or key in changes}
