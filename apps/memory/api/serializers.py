from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.memory.search import SEARCH_TYPES
from apps.products.api.fields import ProductNameField, StrictString
from synchronex.api.serializers import StrictSerializer, query_name_problems, types_problem

MAX_QUERY_CHARS = 500
MAX_PRODUCT_CHARS = 100
SEARCH_PARAMS = ("q", "types", "product", "limit", "offset")


class MemorySearchQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /memory/search`` (``limit``/``offset`` are read by ``Page``, which
    names this serializer's errors with its own), given as the request's ``QueryDict``: unknown or
    repeated parameters are errors named together with the others, as in decision search."""

    # StrictString: NFC as every stored text (generic memories are searched by their NFC form).
    q = StrictString(max_length=MAX_QUERY_CHARS, help_text="Search text, 1–500 characters (trimmed, NFC).")
    types = serializers.CharField(
        required=False,
        help_text=f"Comma-separated subset of {', '.join(SEARCH_TYPES)}; all when absent.",
    )
    # The product names' rule (``apps.products.names``), as decision search checks its ``product``.
    product = ProductNameField(
        required=False,
        max_length=MAX_PRODUCT_CHARS,
        help_text="Only hits of this product (case-insensitive); identity and generic memories have none.",
    )

    def to_internal_value(self, data):
        problems = {name: [message] for name, message in query_name_problems(data, SEARCH_PARAMS).items()}
        try:
            # A plain dict: DRF would read an empty optional parameter of a QueryDict as absent.
            value = super().to_internal_value(data.dict())
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**problems, **exc.detail}) from None
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def validate_types(self, value: str) -> list[str]:
        names = [part.strip().lower() for part in value.split(",")]
        if any(not name for name in names):
            raise serializers.ValidationError("Give a comma-separated list of types without empty entries.")
        if problem := types_problem(names, SEARCH_TYPES):
            raise serializers.ValidationError(problem)
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
    updated_at = serializers.DateTimeField(
        help_text="When the hit last changed (a decision: its text, fields or links, as `since=` "
        "exports read it); among equal scores the latest comes first."
    )


class MemorySearchResponseSerializer(serializers.Serializer):
    results = MemorySearchItemSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    scope = serializers.CharField(help_text="The scope the results were served from.")


# -- consolidation (SPEC §9) ----------------------------------------------------------------------
class StrictBoolean(serializers.BooleanField):
    """A JSON true or false (DRF would also read "yes", 1, "on" …)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class ConsolidateRequestSerializer(StrictSerializer):
    """``POST /memory/consolidate``: ``{product?, dry_run?}``."""

    product = StrictString(
        required=False,
        allow_null=True,
        max_length=MAX_PRODUCT_CHARS,
        help_text="Only this product goes through steps 1–3 (signals, duplicate decisions, state cleaning); "
        "unknown → NOT_FOUND. The kernel refresh and embeddings always cover the whole scope.",
    )
    dry_run = StrictBoolean(
        required=False, default=False, help_text="Compute the stats without changing anything (default false)."
    )


class ConsolidateAcceptedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=["queued", "running"],
        help_text="queued for a new job; an already active job of the scope is returned as it is.",
    )
    created_at = serializers.DateTimeField()
    status_url = serializers.CharField(help_text="Where to poll the job (also sent as Location).")
    scope = serializers.CharField()
    # An active job is returned whatever the request asked for: these say what it will do.
    dry_run = serializers.BooleanField(
        help_text="Whether the returned job is a dry run: an active job comes back whatever `dry_run` "
        "the request gave, so a real run asked for while a dry run is active is not one."
    )
    product = serializers.CharField(
        allow_null=True,
        help_text="The returned job's narrowing (null: the whole scope), whatever `product` the request gave.",
    )


class ConsolidationStatsSerializer(serializers.Serializer):
    signals_applied = serializers.IntegerField(help_text="Pending signals that changed a product state.")
    signals_ignored = serializers.IntegerField(help_text="Pending signals without a rule (commit, note, …).")
    decisions_merged = serializers.IntegerField(help_text="Duplicate decisions now superseded by their survivor.")
    items_cleaned = serializers.IntegerField(help_text="Duplicate or no-longer-blocked list items removed.")
    kernel_refreshed = serializers.BooleanField(help_text="Whether the kernel's product snapshots or block changed.")
    embeddings_computed = serializers.IntegerField(help_text="Vectors computed (a dry run: vectors missing).")
    duration_ms = serializers.IntegerField(help_text="How long the finishing run took.")


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ConsolidationJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    product = serializers.CharField(source="product_name", allow_null=True, help_text="The narrowing, if any.")
    dry_run = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    stats = serializers.SerializerMethodField(help_text="Set when the job succeeded.")
    error = JobErrorSerializer(allow_null=True, help_text="Set when the job failed.")
    scope = serializers.SerializerMethodField()

    @extend_schema_field(ConsolidationStatsSerializer(allow_null=True))
    def get_stats(self, instance) -> dict | None:
        # A running job may hold the stats of its committed steps; they are final only at the end.
        return instance.stats if instance.status == "succeeded" else None

    @extend_schema_field(serializers.CharField())
    def get_scope(self, instance) -> str:
        return self.context["scope"]

    def to_representation(self, instance):
        body = super().to_representation(instance)
        body["product"] = instance.product_name or None
        return body
