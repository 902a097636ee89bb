"""``GET /api/v1/sessions`` response shapes."""

from __future__ import annotations

from rest_framework import serializers


class SessionSerializer(serializers.Serializer):
    """An MCP session as the REST API shows it."""

    id = serializers.UUIDField()
    product_name = serializers.CharField(source="product.name")
    session_url = serializers.CharField()
    agent_name = serializers.CharField()
    label = serializers.CharField()
    client_type = serializers.CharField()
    metadata = serializers.DictField()
    actor = serializers.CharField(
        help_text='The credential that opened it, e.g. "api_key:<uuid>" or "oauth:<client_id>".'
    )
    started_at = serializers.DateTimeField()
    kernel_loaded_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The latest time get_identity_kernel named this session while it was open (never after "
        "ended_at), called by a credential that may write in the scope (memory:write, not a viewer); null "
        "if none did.",
    )
    ended_at = serializers.DateTimeField(allow_null=True, help_text="null while the session is open.")
    summary = serializers.CharField()
    ended_by = serializers.CharField()
    decisions_captured = serializers.IntegerField(allow_null=True)
    status = serializers.SerializerMethodField()

    def get_status(self, session) -> str:
        return "open" if session.ended_at is None else "ended"


class SessionPageSerializer(serializers.Serializer):
    results = SessionSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    scope = serializers.CharField()
