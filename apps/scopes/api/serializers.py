"""Scope and workspace bodies (SPEC §3). Values must be JSON strings: no number becomes a workspace
id (DRF's UUIDField reads 123 as a UUID) and none becomes a name (DRF's CharField turns 123 into "123")."""

import uuid

from rest_framework import serializers

from apps.accounts.emails import EMAIL_MAX, email_problem
from apps.products.api.fields import StrictString
from apps.products.names import format_character_problem, has_control_character, line_break_problem, trim_name
from apps.scopes.services import ASSIGNABLE_ROLES
from synchronex.api.pagination import DEFAULT_LIMIT
from synchronex.api.serializers import EmailAnswerField, StrictChoice, StrictSerializer

WORKSPACE_NAME_MAX = 200
# A workspace's detail shows this many members (a first page, as lists answer by default).
MEMBERS_INLINE = DEFAULT_LIMIT


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


class WorkspaceNameField(StrictString):
    """A workspace name, trimmed as product names are (invisible characters at its ends too) before
    its length is counted: ``"W" * 200`` and a zero-width space is 200 characters, as with a space."""

    def to_internal_value(self, data):
        return trim_name(super().to_internal_value(data))


class WorkspaceCreateSerializer(StrictSerializer):
    name = WorkspaceNameField(
        max_length=WORKSPACE_NAME_MAX,
        help_text=f"Trimmed, 1–{WORKSPACE_NAME_MAX} characters, no control, line separator, bidi or invisible "
        "characters (as product names).",
    )
    kind = StrictChoice(choices=["team", "agency"])

    def validate_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("A workspace name may not be blank.")
        if has_control_character(value):
            raise serializers.ValidationError("A workspace name may not contain control characters.")
        if problem := line_break_problem("A workspace name", value) or format_character_problem(
            "A workspace name", value
        ):
            raise serializers.ValidationError(problem)
        return value


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = EmailAnswerField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"])
    joined_at = serializers.DateTimeField()


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["team", "agency"])
    role = serializers.ChoiceField(choices=["owner", "admin", "member", "viewer"], help_text="Your role here")
    owner_email = EmailAnswerField()
    created_at = serializers.DateTimeField()


class WorkspaceDetailSerializer(WorkspaceSerializer):
    members = MemberSerializer(
        many=True,
        help_text=f"The first {MEMBERS_INLINE} members in joining order (the first page of "
        "`GET /api/v1/workspaces/{id}/members`, which pages through them all).",
    )
    member_count = serializers.IntegerField(help_text="How many members the workspace has, its owner included.")


class MemberPageSerializer(serializers.Serializer):
    results = MemberSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)


class WorkspacePageSerializer(serializers.Serializer):
    results = WorkspaceSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)


class AccountEmailField(StrictString):
    """The email of an existing account, checked only loosely, by the accounts' one rule
    (``apps.accounts.emails``): an account may have any address (``create_api_key --create-user``
    makes ``jürgen@ex.com``), and DRF's EmailField refuses a non-ASCII local part. Trimmed and NFC
    (``ü`` typed composed or decomposed is one address), without invisible characters; the lookup
    compares it in any case."""

    def __init__(self, **kwargs):
        super().__init__(max_length=EMAIL_MAX, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if problem := email_problem(value):
            raise serializers.ValidationError(problem)
        return value


class MemberAddSerializer(StrictSerializer):
    email = AccountEmailField(
        help_text=f"The email of an existing account, in any case and NFC: one `@` with text on both sides, no "
        f"whitespace, control or invisible characters, at most {EMAIL_MAX} characters (any script: "
        "`jürgen@example.com`)."
    )
    role = StrictChoice(choices=[r.value for r in ASSIGNABLE_ROLES])
