"""Scope and workspace bodies (SPEC §3). Values must be JSON strings: no number becomes a workspace
id (DRF's UUIDField reads 123 as a UUID) and none becomes a name (DRF's CharField turns 123 into "123")."""

import uuid

from rest_framework import serializers

from apps.products.api.fields import StrictString
from apps.products.names import has_control_character
from apps.scopes.services import ASSIGNABLE_ROLES
from synchronex.api.serializers import StrictSerializer

WORKSPACE_NAME_MAX = 200


class WorkspaceRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["team", "agency"])
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"])


class ScopeSerializer(serializers.Serializer):
    workspace_id = serializers.UUIDField(allow_null=True)
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])
    workspace = WorkspaceRefSerializer(allow_null=True)
    available = WorkspaceRefSerializer(many=True)


class ScopeSetSerializer(serializers.Serializer):
    """The answer to setting the active scope with a token without `memory:read`: the scope it set,
    nothing read (no workspace name or role, no `available` list)."""

    # Its OpenAPI schema allows no other field (CLOSED_SCHEMAS in synchronex/api/openapi.py), so
    # a whole Scope never fits it as well as Scope in the answer's oneOf.

    workspace_id = serializers.UUIDField(allow_null=True)
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])


class WorkspaceIdField(serializers.UUIDField):
    """A workspace id as a JSON string, read as the ``X-Synchronex-Scope`` header reads one
    (``uuid.UUID`` of the trimmed text: with or without dashes, braces or ``urn:uuid:``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        try:
            return uuid.UUID(data.strip())
        except ValueError:
            self.fail("invalid", value=data)


class ScopeUpdateSerializer(StrictSerializer):
    """`workspace_id` is required: a workspace id (a string), or `null` for the personal scope."""

    workspace_id = WorkspaceIdField(allow_null=True)


class WorkspaceCreateSerializer(StrictSerializer):
    name = StrictString(
        max_length=WORKSPACE_NAME_MAX,
        help_text=f"Trimmed, 1–{WORKSPACE_NAME_MAX} characters, no control characters (as product names).",
    )
    kind = serializers.ChoiceField(choices=["team", "agency"])

    def validate_name(self, value: str) -> str:
        if has_control_character(value):
            raise serializers.ValidationError("A workspace name may not contain control characters.")
        return value


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"])
    joined_at = serializers.DateTimeField()


class MemberWrittenSerializer(serializers.Serializer):
    """The answer to adding a member (or changing a role) with a token without `memory:read`: what
    the write said and the member's id (to remove them later); not their name, nor when an
    existing member joined."""

    # Its OpenAPI schema allows no other field (CLOSED_SCHEMAS in synchronex/api/openapi.py), so
    # a whole Member never fits it as well as Member in the answer's oneOf.

    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"])


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["team", "agency"])
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"], help_text="Your role here")
    owner_email = serializers.EmailField()
    created_at = serializers.DateTimeField()


class WorkspaceDetailSerializer(WorkspaceSerializer):
    members = MemberSerializer(many=True)


class WorkspacePageSerializer(serializers.Serializer):
    results = WorkspaceSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)


class MemberAddSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=[r.value for r in ASSIGNABLE_ROLES])
