from rest_framework import serializers

from apps.memory.search import SEARCH_TYPES

MAX_QUERY_CHARS = 500
MAX_PRODUCT_CHARS = 100


class MemorySearchQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /memory/search`` (``limit``/``offset`` are read by ``Page``)."""

    q = serializers.CharField(max_length=MAX_QUERY_CHARS, help_text="Search text, 1–500 characters (trimmed).")
    types = serializers.CharField(
        required=False,
        help_text=f"Comma-separated subset of {', '.join(SEARCH_TYPES)}; all when absent.",
    )
    product = serializers.CharField(
        required=False,
        max_length=MAX_PRODUCT_CHARS,
        help_text="Only hits of this product (case-insensitive); identity and generic memories have none.",
    )

    def validate_types(self, value: str) -> list[str]:
        names = [part.strip().lower() for part in value.split(",")]
        if any(not name for name in names):
            raise serializers.ValidationError("Give a comma-separated list of types without empty entries.")
        unknown = sorted({name for name in names if name not in SEARCH_TYPES})
        if unknown:
            raise serializers.ValidationError(
                f"Unknown type(s): {', '.join(unknown)}. Allowed: {', '.join(SEARCH_TYPES)}."
            )
        return list(dict.fromkeys(names))


class MemorySearchItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=SEARCH_TYPES)
    id = serializers.UUIDField()
    product = serializers.CharField(allow_null=True, help_text="The product the hit belongs to, if any.")
    title = serializers.CharField()
    snippet = serializers.CharField(
        help_text="An excerpt around the best match (`ts_headline`, up to 35 words); each matched "
        "word is wrapped in `**`."
    )
    score = serializers.FloatField(
        help_text="Relevance in (0, 1], comparable across types: full-text matches score above 0.5, "
        "typo-tolerant (trigram) matches at most 0.5."
    )
    updated_at = serializers.DateTimeField()


class MemorySearchResponseSerializer(serializers.Serializer):
    results = MemorySearchItemSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    scope = serializers.CharField(help_text="The scope the results were served from.")
