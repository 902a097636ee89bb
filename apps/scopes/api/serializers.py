from rest_framework import serializers

from apps.scopes.services import ASSIGNABLE_ROLES
from synchronex.api.serializers import StrictSerializer


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


class ScopeUpdateSerializer(StrictSerializer):
    """`workspace_id` is required: a workspace id, or `null` for the personal scope."""

    workspace_id = serializers.UUIDField(allow_null=True)


class WorkspaceCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["team", "agency"])


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"])
    joined_at = serializers.DateTimeField()


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
