from rest_framework import serializers


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
