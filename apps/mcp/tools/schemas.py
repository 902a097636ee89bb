"""JSON Schema fragments shared by the tools' ``inputSchema`` (bounds match the REST API's, and
count what it counts: the text's characters in NFC, trimmed — see ``registry.TextSchema``)."""

from __future__ import annotations

from apps.decisions.api.serializers import Q_MAX, TOKEN_BUDGET_MAX
from apps.decisions.models import (
    AFFECTS_MAX,
    ALTERNATIVE_MAX,
    ALTERNATIVES_MAX,
    DECISION_MAX,
    REASONING_MAX,
    TAG_MAX,
    TAGS_MAX,
)
from apps.products.api.serializers import HANDOFF_MAX, LIST_ITEM_MAX, LIST_MAX_ITEMS
from apps.products.models import NAME_MAX, ProductState

from ..models import AGENT_NAME_MAX, CLIENT_TYPE_MAX, ENDED_BY_MAX, LABEL_MAX, SESSION_URL_MAX
from .registry import NameSchema, TextSchema

SUMMARY_MAX = HANDOFF_MAX
CONTEXT_BLOCK_MAX = 100_000


def text(max_length: int, description: str, *, min_length: int = 1) -> dict:
    """A free-text argument: ``call`` puts it in NFC, and ``maxLength`` counts it trimmed."""
    return TextSchema(type="string", minLength=min_length, maxLength=max_length, description=description)


PRODUCT_NAME = NameSchema(
    type="string",
    minLength=1,
    maxLength=NAME_MAX,
    description=f"The product's name (1–{NAME_MAX} characters, matched case-insensitively).",
)
SESSION_ID = {"type": "string", "format": "uuid", "description": "The id register_session returned."}


def state_list(description: str) -> dict:
    return {
        "type": "array",
        "maxItems": LIST_MAX_ITEMS,
        "items": text(LIST_ITEM_MAX, "One item."),
        "description": f"{description} Replaces the stored list (≤ {LIST_MAX_ITEMS} items of "
        f"≤ {LIST_ITEM_MAX} characters).",
    }


STATUS = {"type": "string", "enum": list(ProductState.Status.values), "description": "The product's status."}
HANDOFF = text(HANDOFF_MAX, "Where the next session starts (empty clears it).", min_length=0)
TAGS = {
    "type": "array",
    "maxItems": TAGS_MAX,
    "items": text(TAG_MAX, "A tag (lowercased; no commas, bidi or invisible characters)."),
    "description": f"≤ {TAGS_MAX} tags.",
}
AFFECTS = {
    "type": "array",
    "maxItems": AFFECTS_MAX,
    "items": PRODUCT_NAME,
    "description": "Other products this decision affects (they see it in their searches).",
}
ALTERNATIVES = {
    "type": "array",
    "maxItems": ALTERNATIVES_MAX,
    "items": text(ALTERNATIVE_MAX, "An alternative that was considered."),
}

__all__ = [
    "AGENT_NAME_MAX",
    "CLIENT_TYPE_MAX",
    "CONTEXT_BLOCK_MAX",
    "DECISION_MAX",
    "ENDED_BY_MAX",
    "LABEL_MAX",
    "Q_MAX",
    "REASONING_MAX",
    "SESSION_URL_MAX",
    "SUMMARY_MAX",
    "TOKEN_BUDGET_MAX",
]
