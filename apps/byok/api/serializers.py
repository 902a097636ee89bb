"""BYOK bodies and responses (SPEC §9). A response never carries the key."""

from __future__ import annotations

from rest_framework import serializers

from apps.byok.models import LABEL_MAX
from apps.byok.shapes import BASE_URL_MAX, KEY_MAX, SERVICES
from apps.products.api.fields import StrictString
from apps.products.names import trim_name
from synchronex.api.serializers import StrictChoice, StrictSerializer


class LabelField(StrictString):
    """A label, trimmed as product names are (invisible characters at its ends too) before its
    length is counted; ``byok_credential_create`` checks the rest of the rule."""

    def to_internal_value(self, data):
        return trim_name(super().to_internal_value(data))


class ByokCreateSerializer(StrictSerializer):
    service = StrictChoice(choices=SERVICES)
    # NFC as all stored text: the composed and decomposed spellings of a label are one label, to
    # its length and to the case-insensitive uniqueness.
    label = LabelField(
        max_length=LABEL_MAX,
        help_text="Trimmed, 1–100 characters, no control, bidi or invisible characters (as product names), "
        "unique per service in the scope.",
    )
    key = StrictString(
        verbatim=True,  # the secret as the provider issued it
        max_length=KEY_MAX,
        write_only=True,
        help_text="The provider key; its shape is checked per service. Stored encrypted, never returned.",
    )
    base_url = StrictString(
        max_length=BASE_URL_MAX,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="openai_compatible only (required there): https, or http for loopback hosts.",
    )


class ByokCredentialSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    service = serializers.ChoiceField(choices=SERVICES)
    label = serializers.CharField()
    key_hint = serializers.CharField(help_text='"…" and the last four characters of the key.')
    base_url = serializers.CharField(allow_null=True, help_text="Set for openai_compatible, else null.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["base_url"] = data["base_url"] or None
        return data


class ByokCreatedSerializer(ByokCredentialSerializer):
    """The 201 of ``POST /byok``: the credential and the scope it was stored in (SPEC §3: every
    memory response names its scope; the list names it once, beside its items)."""

    scope = serializers.SerializerMethodField()

    def get_scope(self, instance) -> str:
        return self.context["scope"]


class ByokPageSerializer(serializers.Serializer):
    scope = serializers.CharField()
    results = ByokCredentialSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
