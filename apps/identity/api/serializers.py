"""Kernel bodies and responses (SPEC §4), with every bound in one place.

Limits beyond the contract's own (chosen here, documented in the OpenAPI schema):
- products: name by the product names' rule (``apps.products.names``: trimmed, NFC, then 1–100
  characters without control characters; stored NFC), status ≤ 50, summary ≤ 500, url ≤ 2,000
  and http(s) only;
- constraints: ``communication_style`` ≤ 300 like each constraint item;
- model_preferences: ≤ 20 providers of ≤ 100 chars, ``default_model`` ≤ 100,
  ≤ 20 ``routing`` entries, task names 1–100 chars, model names ≤ 100.
Strings must be JSON strings (numbers are not coerced), are NFC-normalised (lengths count NFC
characters; routing task names too) and trimmed, and an empty string or ``null`` inside a section
means "unset". The export's ``query``/``task`` are NFC-normalised as well.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from apps.identity.layers import kernel_shape
from apps.products.api.fields import ProductNameField, StrictList, StrictString
from apps.products.models import NAME_MAX
from apps.products.names import product_name_keys
from synchronex.api.openapi import NOT_BLANK, PRODUCT_NAME_OR_EMPTY
from synchronex.api.parsers import ascii_integer
from synchronex.api.serializers import EmailAnswerField, StrictChoice, StrictSerializer, query_boolean
from synchronex.text import nfc

IDENTITY_MAX = 200
MAX_PRODUCTS = 10
PRODUCT_STATUS_MAX = 50
PRODUCT_SUMMARY_MAX = 500
PRODUCT_URL_MAX = 2000
MAX_CONSTRAINTS = 50
CONSTRAINT_MAX = 300
MAX_PROVIDERS = 20
MODEL_NAME_MAX = 100
MAX_ROUTES = 20


# Files an OS keeps beside the IANA database that zoneinfo lists as zones: Debian's ``localtime``
# (a link to /etc/localtime, so the server's own zone, whatever that is) and ``posixrules`` (zic's
# default rules; Python drops it, but only where it finds it by name).
NOT_IANA_ZONES = frozenset({"localtime", "posixrules"})


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    """The IANA time zone names (SPEC §4): every Zone and Link of the database the server has (the
    system's tzdata, compiled), the same set as tzdata's ``zones`` list. Links are accepted
    (``US/Pacific``, ``UTC``) since they are IANA names; so is ``Factory``, the database's zone for
    "not set yet", which is IANA's own although it names no place."""
    return frozenset(zoneinfo.available_timezones()) - NOT_IANA_ZONES


def _optional(max_length: int, **kwargs) -> StrictString:
    return StrictString(max_length=max_length, required=False, allow_null=True, allow_blank=True, **kwargs)


def _indexed(detail, length: int):
    """DRF reports item errors as {index: errors}; the API names them ``field[index]``, which
    the error flattener produces from a list."""
    if isinstance(detail, dict) and detail and all(isinstance(key, int) for key in detail):
        as_list: list = [[] for _ in range(length)]
        for index, messages in detail.items():
            as_list[index] = messages
        return as_list
    return detail


def _items_not_blank(*names: str) -> dict:
    """The lists ``names`` hold no item of spaces alone (one is trimmed to a blank item, and refused),
    as JSON Schema states it: for a section's ``schema_constraints`` (request direction only)."""
    return {"properties": {name: {"items": {"pattern": NOT_BLANK}} for name in names}}


def _string_list(*, max_items: int, max_length: int, help_text: str) -> StrictList:
    return StrictList(
        child=StrictString(max_length=max_length),
        max_length=max_items,
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class SectionSerializer(StrictSerializer):
    """A nested section: a JSON object whose unknown keys are named (``section.key``)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(["Expected a JSON object."])
        return super().to_internal_value(data)


class SectionListSerializer(serializers.ListSerializer):
    """A list of sections: its own errors (not a list, too long) are reported on the field itself,
    item errors as ``field[index].key``."""

    def run_child_validation(self, data):
        # many=True hands the list's allow_null to each item as well (and a field copy rebuilds
        # it so): ``products: null`` clears the section, but a null item is no section.
        if data is None:
            self.child.fail("null")
        return super().run_child_validation(data)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and set(exc.detail) == {api_settings.NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(exc.detail[api_settings.NON_FIELD_ERRORS_KEY]) from None
            raise serializers.ValidationError(_indexed(exc.detail, len(data))) from None


class IdentitySerializer(SectionSerializer):
    name = _optional(IDENTITY_MAX)
    company = _optional(IDENTITY_MAX)
    location = _optional(IDENTITY_MAX)
    timezone = _optional(IDENTITY_MAX, help_text="An IANA time zone name, e.g. Europe/Berlin.")
    role = _optional(IDENTITY_MAX)
    industry = _optional(IDENTITY_MAX)

    def validate_timezone(self, value):
        if value and value not in _timezones():
            raise serializers.ValidationError("Not a valid IANA time zone name (e.g. Europe/Berlin).")
        return value


# An http(s) URL, or none: "" (spaces too, trimmed) or null. Not drf-spectacular's own schema of a
# blank-allowing URL field, ``oneOf`` a ``format: uri`` string and the empty string: "" is both to a
# validator that does not check formats (JSON Schema's default), so the document refused it.
@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "uri", "maxLength": PRODUCT_URL_MAX, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
            {"type": "string", "pattern": r"^\s*$"},
        ]  # drf-spectacular adds the null one: the field allows null
    }
)
class ProductUrlField(StrictString):
    pass


class ProductSerializer(SectionSerializer):
    # A name of spaces alone is trimmed to a blank one, and refused (``schema_constraints`` replace
    # top-level keys: the rule goes in an ``allOf``, beside the properties).
    schema_constraints = {"allOf": [{"properties": {"name": {"pattern": NOT_BLANK}}}]}

    # A product state's own rule and spelling (NFC), so a kernel name is one a product can have.
    name = ProductNameField(
        max_length=NAME_MAX,
        help_text=f"Trimmed and NFC-normalised, then 1–{NAME_MAX} characters without control characters, "
        "as a product state's name; unique within the kernel, case-insensitively.",
    )
    status = _optional(PRODUCT_STATUS_MAX)
    summary = _optional(PRODUCT_SUMMARY_MAX)
    url = ProductUrlField(
        max_length=PRODUCT_URL_MAX,
        required=False,
        allow_null=True,
        allow_blank=True,
        validators=[URLValidator(schemes=["http", "https"], message="Enter an http(s) URL.")],
        help_text="An http or https URL; empty or null: none.",
    )

    class Meta:
        list_serializer_class = SectionListSerializer


class ConstraintsSerializer(SectionSerializer):
    # An item of spaces alone is trimmed to a blank one, and refused.
    schema_constraints = {"allOf": [_items_not_blank("always", "never")]}

    always = _string_list(max_items=MAX_CONSTRAINTS, max_length=CONSTRAINT_MAX, help_text="Things to always do.")
    never = _string_list(max_items=MAX_CONSTRAINTS, max_length=CONSTRAINT_MAX, help_text="Things to never do.")
    communication_style = _optional(CONSTRAINT_MAX)


_MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": MODEL_NAME_MAX, "pattern": NOT_BLANK}


# The entry count and task names are checked in ``to_internal_value``, out of drf-spectacular's sight.
@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_ROUTES,
        "propertyNames": {"maxLength": MODEL_NAME_MAX, "pattern": NOT_BLANK},
        "additionalProperties": _MODEL_NAME,
    }
)
class RoutingField(serializers.DictField):
    """``{task: model}``: at most MAX_ROUTES entries with bounded, non-blank task names."""

    child = StrictString(max_length=MODEL_NAME_MAX)

    def to_internal_value(self, data):
        # The size first, before any entry is checked (as ``StrictList`` does for a list's length).
        if isinstance(data, dict) and len(data) > MAX_ROUTES:
            raise serializers.ValidationError(f"Ensure this field has no more than {MAX_ROUTES} entries.")
        result = super().to_internal_value(data)
        cleaned = {}
        for task, model in result.items():
            name = nfc(task).strip()  # a key, so not through StrictString: normalised here
            if not name or len(name) > MODEL_NAME_MAX or "\x00" in name:
                raise serializers.ValidationError(f"Task names must be 1 to {MODEL_NAME_MAX} characters.")
            if name in cleaned:
                raise serializers.ValidationError(f"Task {name!r} appears twice.")
            cleaned[name] = model
        return cleaned


class ModelPreferencesSerializer(SectionSerializer):
    schema_constraints = {"allOf": [_items_not_blank("providers")]}

    providers = _string_list(max_items=MAX_PROVIDERS, max_length=MODEL_NAME_MAX, help_text="Preferred providers.")
    default_model = _optional(MODEL_NAME_MAX)
    routing = RoutingField(required=False, allow_null=True, help_text="Which model to use per task: {task: model}.")


class KernelSectionsSerializer(SectionSerializer):
    """The four sections; each may be absent (unchanged), null (cleared) or an object/list."""

    identity = IdentitySerializer(required=False, allow_null=True)
    products = ProductSerializer(many=True, required=False, allow_null=True, max_length=MAX_PRODUCTS)
    constraints = ConstraintsSerializer(required=False, allow_null=True)
    model_preferences = ModelPreferencesSerializer(required=False, allow_null=True)

    def validate_products(self, value):
        if not value:
            return value
        # The product states' key (trimmed, NFC, PostgreSQL's lower()): a name that is one
        # product there is one name here, so the server's own snapshots always come back in.
        keys = product_name_keys(product["name"] for product in value)
        seen: dict[str, int] = {}
        errors: dict = {}
        for index, key in enumerate(keys):
            if key in seen:
                errors[index] = {"name": [f"Duplicate product name (same as item {seen[key]}, ignoring case)."]}
            else:
                seen[key] = index
        if errors:
            raise serializers.ValidationError(_indexed(errors, len(value)))
        return value


class KernelWriteSerializer(KernelSectionsSerializer):
    """The body of ``PUT /memory/identity``: at least one section."""

    MIN_SECTIONS = 1
    schema_constraints = {"minProperties": MIN_SECTIONS}  # for the OpenAPI document (openapi_extensions)

    def to_internal_value(self, data):
        if not isinstance(data, dict):  # the body's answer, not a nested section's
            raise serializers.ValidationError(self.NOT_AN_OBJECT)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if len(attrs) < self.MIN_SECTIONS:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send at least one section: identity, products, constraints, model_preferences."]}
            )
        return attrs


class KernelSerializer(serializers.Serializer):
    """The effective kernel with its injection block (response of GET and PUT)."""

    identity = IdentitySerializer(allow_null=True)
    products = ProductSerializer(many=True, allow_null=True)
    constraints = ConstraintsSerializer(allow_null=True)
    model_preferences = ModelPreferencesSerializer(allow_null=True)
    injection_block = serializers.CharField(help_text="At most 500 o200k_base tokens.")
    injection_tokens = serializers.IntegerField(min_value=0, max_value=500)
    truncated = serializers.BooleanField(help_text="True when lower-priority lines were dropped to fit.")
    version = serializers.IntegerField(min_value=0, help_text="0 until the first write. Also the ETag.")
    updated_at = serializers.DateTimeField(allow_null=True)
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])


_UPDATED_AT = serializers.DateTimeField(allow_null=True)


def kernel_body(effective, scope: str) -> dict:
    """The response body of an identity read or write: ``KernelSerializer``'s output, built
    without running it (a test holds the two together; see ``layers.kernel_shape``)."""
    body = effective.as_dict(scope=scope)
    if body["updated_at"] is not None:
        body["updated_at"] = _UPDATED_AT.to_representation(body["updated_at"])
    return body


class KernelWrittenSerializer(serializers.Serializer):
    """The answer to a kernel write by a token without `memory:read`: where the write landed and
    the sections it sent, as the written layer stores them; nothing else of the kernel."""

    # Its OpenAPI schema allows no other field (CLOSED_SCHEMAS in synchronex/api/openapi.py), so
    # a whole kernel never fits it as well as Kernel in the answer's oneOf.

    identity = IdentitySerializer(allow_null=True, required=False)
    products = ProductSerializer(many=True, allow_null=True, required=False)
    constraints = ConstraintsSerializer(allow_null=True, required=False)
    model_preferences = ModelPreferencesSerializer(allow_null=True, required=False)
    version = serializers.IntegerField(min_value=1, help_text="The written layer's version. Also the ETag.")
    updated_at = serializers.DateTimeField(help_text="When the written layer changed: this write.")
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])


def kernel_write_body(kernel, scope: str, *, changes: dict) -> dict:
    """The answer to a kernel write by a credential without ``memory:read``: the sections the
    write sent, as the written layer now stores them, and the layer's ``version`` and
    ``updated_at``. Not the effective kernel: in a workspace that would show the layer other
    members wrote, and the injection block renders every section, so writing never reads."""
    shaped = kernel_shape(kernel.sections())
    return {
        **{section: value for section, value in shaped.items() if section in changes},
        "version": kernel.version,
        "updated_at": _UPDATED_AT.to_representation(kernel.updated_at),
        "scope": scope,
    }


class RevisionUserSerializer(serializers.Serializer):
    """The account that wrote a revision, named as workspace members are."""

    user_id = serializers.UUIDField(source="id")
    email = EmailAnswerField()
    name = serializers.CharField()


class KernelRevisionSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    snapshot = KernelSectionsSerializer(help_text="The layer's four sections after that write.")
    actor = serializers.CharField(help_text='The credential that wrote it, e.g. "api_key:<uuid>".')
    actor_user = RevisionUserSerializer(
        allow_null=True, help_text="The account that wrote it; null once that account has been deleted."
    )
    created_at = serializers.DateTimeField()


class KernelRevisionPageSerializer(serializers.Serializer):
    results = KernelRevisionSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])


# --- kernel export (SPEC §9) -------------------------------------------------------------------
EXPORT_QUERY_MAX = 20_000
# In a query string: a URL must fit web servers' request-line limits (gunicorn: 4 KiB by default,
# at most 8 KiB), and a character may take 12 bytes percent-encoded. Longer texts go by POST.
EXPORT_GET_QUERY_MAX = 500


class StrictInteger(serializers.IntegerField):
    """An IntegerField that accepts only JSON integers (not "5", 5.0 or true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBoolean(serializers.BooleanField):
    """A BooleanField that accepts only JSON true/false."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class QueryValue:
    """A query option whose empty value (``?format=``, ``?max_tokens=``) is refused, not read as
    absent: DRF's form rule would answer the default, where every other endpoint (``?limit=``,
    ``?days=``) answers VALIDATION_ERROR. Mixed into a field class, before it."""

    def get_value(self, dictionary):
        return dictionary.get(self.field_name, serializers.empty)


class QueryChoice(QueryValue, StrictChoice):
    pass


class QueryInteger(QueryValue, serializers.IntegerField):
    """ASCII digits only (``ascii_integer``): DRF's field ends in int(), which also read "1_0",
    "٣" and "+5", and dropped a trailing ".0"."""

    def to_internal_value(self, data):
        value = ascii_integer(data) if isinstance(data, str) else None
        if value is None:
            self.fail("invalid")
        return super().to_internal_value(value)


class QueryBoolean(QueryValue, serializers.BooleanField):
    """``true`` or ``false`` in any case, as every other boolean query option (DRF's field would
    also take 1, yes, on and their opposites)."""

    default_error_messages = {"invalid": "Use true or false."}

    def to_internal_value(self, data):
        value = query_boolean(str(data))
        if value is None:
            self.fail("invalid")
        return value


@extend_schema_field(PRODUCT_NAME_OR_EMPTY)
class ExportProductField(serializers.Field):
    """The kernel export's ``product``: a product name by the one rule (``ProductNameField``), or
    ``""`` for none (null too in the body, with ``allow_null``); a blank non-empty name is refused.
    Not a CharField: drf-spectacular describes a blank-allowing one as ``oneOf`` its schema and the
    empty string, which fails for ``""`` once the schema's pattern takes it too."""

    def to_internal_value(self, data):
        return "" if data == "" else ProductNameField().to_internal_value(data)


class KernelExportQuerySerializer(StrictSerializer):
    """The options of ``GET /kernel/export`` (query string)."""

    format = QueryChoice(choices=["markdown", "json", "text"], default="markdown")
    product = ExportProductField(required=False, help_text="A product name (any case); empty: none.")
    query = StrictString(
        max_length=EXPORT_GET_QUERY_MAX,
        required=False,
        allow_blank=True,
        help_text="What the session is about (longer texts: POST).",
    )
    task = StrictString(
        max_length=EXPORT_GET_QUERY_MAX, required=False, allow_blank=True, help_text="Same as query (either one)."
    )
    max_tokens = QueryInteger(min_value=100, max_value=8000, default=1500)
    decisions = QueryInteger(min_value=0, max_value=20, default=5)
    download = QueryBoolean(default=False, help_text="Answer as an attachment (Content-Disposition).")

    def validate(self, attrs):
        query, task = attrs.pop("query", "") or "", attrs.pop("task", "") or ""
        if query and task:
            raise serializers.ValidationError({"task": ["Send either query or task, not both."]})
        attrs["query"] = query or task or None
        attrs["product"] = attrs.get("product") or None
        return attrs


class KernelExportBodySerializer(KernelExportQuerySerializer):
    """The options of ``POST /kernel/export`` (JSON body; the route for long task texts)."""

    product = ExportProductField(required=False, allow_null=True)
    query = StrictString(max_length=EXPORT_QUERY_MAX, required=False, allow_blank=True, allow_null=True)
    task = StrictString(max_length=EXPORT_QUERY_MAX, required=False, allow_blank=True, allow_null=True)
    max_tokens = StrictInteger(min_value=100, max_value=8000, default=1500)
    decisions = StrictInteger(min_value=0, max_value=20, default=5)
    download = StrictBoolean(default=False)


class ExportTokensSerializer(serializers.Serializer):
    """The content's o200k_base tokens, and what each section adds to them (its ``tokens``;
    0 when absent): ``kernel + product + decisions == total``, always."""

    total = serializers.IntegerField(help_text="count_tokens(content): never above max_tokens.")
    kernel = serializers.IntegerField(help_text="The kernel section's tokens (0 without one).")
    product = serializers.IntegerField(help_text="The product section's tokens (0 without one).")
    decisions = serializers.IntegerField(help_text="The decisions section's tokens (0 without one).")


class ExportSectionSerializer(serializers.Serializer):
    # A plain string: an enum named "kind" would collide with the workspace kinds in the schema.
    kind = serializers.CharField(help_text="kernel, product or decisions.")
    title = serializers.CharField()
    content = serializers.CharField(help_text="The section's body, without its title.")
    tokens = serializers.IntegerField(
        help_text="The tokens the section adds to content: its title and body, and the blank line that "
        "separates it from the section before (tokens merge across it). The sections' tokens add up to "
        "tokens.total."
    )


class KernelExportSerializer(serializers.Serializer):
    """``format=json``: the export with its parts and their token counts."""

    format = serializers.CharField()
    scope = serializers.ChoiceField(choices=["personal", "team", "agency"])
    tokens = ExportTokensSerializer()
    truncated = serializers.BooleanField(
        help_text="Whether max_tokens left out or shortened any part the export would otherwise hold (as the "
        "X-Synchronex-Truncated header says, in every format)."
    )
    sections = ExportSectionSerializer(many=True)
    content = serializers.CharField(help_text="The whole export as Markdown, in injection order.")
    generated_at = serializers.DateTimeField()
