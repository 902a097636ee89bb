"""The tool registry: each tool's name, JSON Schema, required scope and handler.

A tool is a thin adapter: it reads its (already schema-checked) arguments, calls one service or
selector of the app that owns the data, and returns a JSON object. Its free-text arguments
(``TextSchema``) reach it in NFC, and their ``maxLength`` counts them trimmed, as the REST API
reads a body's text, so a tool accepts and refuses what its REST twin does. ``call`` runs one tool for a
``tools/call`` request, redacts the scope's BYOK keys from what users wrote in its answer
(``answer_redacted`` with ``ToolContext.scrub``: an answer goes into a model's prompt; never from
the answer's field names, ids, timestamps or enum values) and decides how each failure is reported:

- arguments that do not satisfy the published ``inputSchema``, strings holding a NUL character
  (U+0000, which PostgreSQL stores neither in text nor in jsonb, and which the REST API's string
  fields refuse too), and any VALIDATION_ERROR the services raise about them, map each argument
  to its messages (the shape of the REST API's ``details.fields``). From revision 2025-11-25 on
  (SEP-1303) they are a tool result with ``isError: true`` carrying the REST VALIDATION_ERROR
  envelope, so the model sees them and corrects its call; under 2025-06-18 and 2025-03-26 they
  are the JSON-RPC error -32602 with ``data.fields``, as those revisions have it;
- a ``tools/call`` that is itself malformed (no tool name, an unknown tool, ``arguments`` that
  are not an object) is -32602 under every revision;
- a token without the tool's scope is a JSON-RPC error -32031 with ``data.required_scopes``
  (and, for a single request, HTTP 403 with an ``insufficient_scope`` challenge);
- anything else a service refuses (NOT_FOUND, CONFLICT, PRECONDITION_FAILED, a viewer writing,
  a plan limit) is a tool result with ``isError: true`` carrying the REST error envelope, so
  the model reads it and can act on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from rest_framework.settings import api_settings

from apps.memory.mif.export import reader_scrubber, redacts, scrub_json
from apps.products.names import trim_name
from apps.scopes.selectors import ActiveSpace, space_for_request
from synchronex.api import errors
from synchronex.api.parsers import json_leaves
from synchronex.api.serializers import unknown_fields
from synchronex.text import nfc

from ..protocol import (
    ARGUMENT_ERRORS_AS_RESULTS_VERSIONS,
    INSUFFICIENT_SCOPE,
    INVALID_PARAMS,
    STRUCTURED_CONTENT_VERSIONS,
    RpcError,
)

MESSAGE_MAX = 300
NUL_MESSAGE = "May not contain NUL (U+0000) characters."


class TextSchema(dict):
    """The JSON Schema of a free-text argument (``schemas.text``). The type only marks it: ``call``
    puts such an argument (alone or as an array's items) in NFC before anything reads it, as the
    REST API's ``StrictString`` does with a body's text, so a handler cannot forget to and the
    schema's ``maxLength`` counts NFC characters. tools/list publishes it as the plain object."""


class NameSchema(TextSchema):
    """The JSON Schema of a product name: its ``maxLength`` counts the name trimmed as product names
    are (``apps.products.names.trim_name``: whitespace and invisible format characters at its ends,
    such as a BOM), so a name REST stores is never too long here."""


# NFC never leaves fewer than a quarter of a string's code points (the longest canonical
# decomposition, U+1F82's, is 4), so a string over 4 × its limit even trimmed is refused as sent:
# a megabyte-long argument costs a trim, never an NFC pass, before its refusal.
NFC_SHRINK_MAX = 4


def _trimmed(value: str, schema: dict) -> str:
    """``value`` trimmed as the REST API trims it before counting: a product name as product names
    are (``trim_name``), other text of whitespace (DRF's CharField)."""
    return trim_name(value) if isinstance(schema, NameSchema) else value.strip()


def _nfc_within(value: str, schema: dict) -> str:
    """``value`` in NFC, or as sent when it is too long for ``schema``'s ``maxLength`` whatever NFC
    makes of it. Bounded on the trim ``_max_length`` counts: a name padded with more invisible
    characters than 4 × its limit is still put in NFC, and counted as REST counts it."""
    bound = NFC_SHRINK_MAX * schema["maxLength"]
    if len(value) > bound and len(_trimmed(value, schema)) > bound:
        return value
    return nfc(value)


def _max_length(validator, limit, instance, schema):
    """``maxLength`` counted as the REST API's fields count: on the string trimmed (DRF's CharField
    trims before its length check; every tool trims its text too) and, for text, in NFC."""
    if not validator.is_type(instance, "string") or len(instance) <= limit:
        return
    if len(_trimmed(instance, schema)) > limit:
        yield ValidationError("is too long")  # jsonschema's own message quotes the (maybe huge) value


_ITEMS = Draft202012Validator.VALIDATORS["items"]


def _items(validator, items, instance, schema):
    """``items``, skipped on an array longer than its ``maxItems``, whose one error refuses it: the
    items of 300,000 numbers (a 600 KB body) were checked one by one, and answered one error each."""
    limit = schema.get("maxItems")
    if limit is not None and validator.is_type(instance, "array") and len(instance) > limit:
        return
    yield from _ITEMS(validator, items, instance, schema)


ArgumentValidator = validators.extend(Draft202012Validator, {"maxLength": _max_length, "items": _items})


@dataclass
class ToolContext:
    """What a tool may use: the request (authenticated), its credential and protocol version."""

    request: object
    credential: object
    protocol_version: str

    @property
    def user(self):
        return self.credential.user

    @cached_property
    def active(self) -> ActiveSpace:
        """The active space (``X-Synchronex-Scope`` header, else the stored scope)."""
        return space_for_request(self.request)

    @cached_property
    def scrub(self) -> Callable[[str], str]:
        """The redaction of the active scope's BYOK keys (in a workspace every member's personal
        ones too), as the kernel export applies it: every tool answer goes into a model's prompt.
        ``call`` applies it to each answer; a tool uses it too where the redacted text must be
        worked with (a block rendered, memory compared)."""
        return reader_scrubber(self.active.space)

    def writable(self) -> ActiveSpace:
        active = self.active
        if not active.can_write:
            raise errors.Forbidden("Viewers of this workspace can read but not write.")
        return active

    def allows(self, scope: str) -> bool:
        return self.credential.allows(scope)


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    scope: str
    input_schema: dict
    handler: Callable[[ToolContext, dict], dict]
    read_only: bool
    idempotent: bool = False
    # destructiveHint false promises "only additive updates" (MCP schema): a write tool that
    # replaces, clears or overwrites stored data must say destructive=True.
    destructive: bool = False
    # Arguments whose items the handler checks one by one (an import reports each unstorable
    # item and keeps the others, as on REST), so they are not refused whole for a NUL.
    checked_per_item: tuple[str, ...] = ()
    # A handler whose answer is already redacted with ``ToolContext.scrub``'s keys (the MIF export,
    # whose checksum and privacy findings must describe the document as sent): ``call`` does not
    # scan its answer (up to 8 MiB) a second time.
    redacts_itself: bool = False

    @cached_property
    def validator(self) -> Draft202012Validator:
        ArgumentValidator.check_schema(self.input_schema)
        return ArgumentValidator(self.input_schema, format_checker=FormatChecker())

    @cached_property
    def text_arguments(self) -> dict[str, tuple[TextSchema, bool]]:
        """Each free-text argument → (its ``TextSchema``, whether it is an array of them)."""
        found = {}
        for name, schema in self.input_schema.get("properties", {}).items():
            if isinstance(schema, TextSchema):
                found[name] = (schema, False)
            elif isinstance(schema.get("items"), TextSchema):
                found[name] = (schema["items"], True)
        return found

    def normalised(self, arguments: dict) -> dict:
        """``arguments`` with each free-text string in NFC (``_nfc_within``); the rest as sent."""
        out = dict(arguments)
        for name, (schema, many) in self.text_arguments.items():
            value = arguments.get(name)
            if not many and isinstance(value, str):
                out[name] = _nfc_within(value, schema)
            elif many and isinstance(value, list):
                out[name] = [_nfc_within(item, schema) if isinstance(item, str) else item for item in value]
        return out

    def listing(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": f"{self.description} Requires the `{self.scope}` scope.",
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": False,
            },
        }


TOOLS: dict[str, Tool] = {}


def required_scopes() -> list[str]:
    """The scopes the registered tools need, sorted: what ``/mcp`` asks clients for (its 401
    challenge and RFC 9728 document), rather than the whole catalogue. The scopes a tool only
    uses when granted (decisions in a product state need ``decisions:read``, decisions in an
    import ``decisions:write``) are the required scopes of other tools, so they are listed too."""
    return sorted({registered.scope for registered in TOOLS.values()})


def tool(name: str, *, title: str, description: str, scope: str, schema: dict, read_only: bool, **hints):
    """Register the decorated function as the handler of tool ``name``."""

    def register(handler):
        schema.setdefault("type", "object")
        schema.setdefault("additionalProperties", False)
        TOOLS[name] = Tool(name, title, description, scope, schema, handler, read_only, **hints)
        return handler

    return register


def _message(error) -> str:
    """A short message per failed keyword; never echoes the (possibly huge) offending value."""
    kind, limit = error.validator, error.validator_value
    if kind == "type":
        kinds = limit if isinstance(limit, list) else [limit]
        return "Must be " + " or ".join(_ARTICLES.get(k, f"a {k}") for k in kinds) + "."
    if kind == "enum":
        return "Must be one of: " + ", ".join(map(str, limit)) + "."
    if kind == "minLength":
        return "May not be empty." if limit == 1 else f"At least {limit} characters."
    template = _TEMPLATES.get(kind)
    return template.format(limit) if template else error.message[:MESSAGE_MAX]


_ARTICLES = {"integer": "an integer", "object": "an object", "array": "an array"}
_TEMPLATES = {
    "maxLength": "At most {} characters.",
    "maxItems": "At most {} items.",
    "minItems": "At least {} items.",
    "maximum": "At most {}.",
    "minimum": "At least {}.",
    "maxProperties": "At most {} keys.",
    "format": "Must be a {}.",
    "uniqueItems": "Items must be unique.",
}


def _field_name(path) -> str:
    """An argument's name as the REST API's ``details.fields`` spells it: ``tags[1]``, ``a.b``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else part
    return name


def _field_errors(validator: Draft202012Validator, arguments: dict) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))):
        path = _field_name(error.absolute_path)
        if error.validator == "required":
            # jsonschema raises one such error per missing name, each holding the whole array, so
            # each missing name comes up once per missing name: it is reported once.
            for name in error.validator_value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    messages = fields.setdefault(f"{path}.{name}" if path else name, [])
                    if "This field is required." not in messages:
                        messages.append("This field is required.")
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # Named as the REST bodies name them: at most UNKNOWN_FIELDS_NAMED, then counted.
            for name, messages in unknown_fields(error.instance, error.schema.get("properties", {})).items():
                if name == api_settings.NON_FIELD_ERRORS_KEY:
                    name = None
                field = f"{path}.{name}" if path and name else name or path or "arguments"
                fields.setdefault(field, []).extend(messages)
            continue
        fields.setdefault(path or "arguments", []).append(_message(error))
    return fields


def _nul_arguments(arguments: dict, skip: tuple[str, ...]) -> list[str]:
    """The arguments holding a NUL character in a string, or in a key of an object."""
    return [
        name
        for name, value in arguments.items()
        if name not in skip and any(isinstance(leaf, str) and "\x00" in leaf for leaf in json_leaves(value))
    ]


def invalid_arguments(fields: dict, message: str = "Invalid arguments.") -> RpcError:
    return RpcError(INVALID_PARAMS, message, {"fields": fields})


def insufficient_scope(scope: str) -> RpcError:
    from ..auth import insufficient_scope_challenge

    return RpcError(
        INSUFFICIENT_SCOPE,
        f"This token lacks the '{scope}' scope this tool needs.",
        {"code": "FORBIDDEN", "required_scopes": [scope]},
        status=403,
        headers={"WWW-Authenticate": insufficient_scope_challenge(scope)},
    )


# -- what users wrote, redacted -------------------------------------------------------------------
# A key may be any 8 visible characters: redacting every string and key of an answer rewrote a
# field name ("recent_decisions"), a status ("archived"), part of an id or a date, an error code
# or a checked time zone whenever a key spelled one. Strings of these fields (and of every
# ``*_id`` and ``*_at`` one) are the service's own, as are the answers' keys:
SERVICE_VALUES = frozenset(
    (
        *("id", "supersedes", "superseded_by", "scope", "status", "match", "format", "code", "required_scopes"),
        *("section", "reason", "kind", "level", "as_of"),  # check_memory_confidence's findings
        "timezone",  # an IANA name the API checked (kept by ``kernel_redacted`` too)
        # Rendered by get_identity_kernel from the kernel's redacted sections (``kernel_redacted``,
        # which also redacts a kernel product's free-text ``status``): its headings are the renderer's.
        "injection_block",
    )
)
# Objects whose keys users wrote too (a session's metadata): redacted whole, keys included.
USER_OBJECTS = frozenset({"metadata"})
# An error's ``details.fields``: argument names (the tool's, or one the caller sent) → messages,
# which may quote the arguments.
ARGUMENT_MESSAGES = "fields"


def _service_value(field: str | None) -> bool:
    return field is not None and (field in SERVICE_VALUES or field.endswith(("_id", "_at")))


def answer_redacted(value, scrub: Callable[[str], str], field: str | None = None):
    """``value`` (an answer, or its part under ``field``) with ``scrub`` applied to what users
    wrote: every string but those of the service's own fields (``SERVICE_VALUES``), and no key but
    those of ``USER_OBJECTS``. ``value`` itself is never changed (it may be shared)."""
    if isinstance(value, str):
        return value if _service_value(field) else scrub(value)
    if isinstance(value, dict):
        if field == ARGUMENT_MESSAGES:
            return {name: scrub_json(messages, scrub) for name, messages in value.items()}
        return {
            key: scrub_json(item, scrub) if key in USER_OBJECTS else answer_redacted(item, scrub, key)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [answer_redacted(item, scrub, field) for item in value]
    return value


def tool_result(payload: dict, *, version: str, is_error: bool = False) -> dict:
    """A ``CallToolResult``: the JSON as text (every revision) and as ``structuredContent``."""
    result: dict = {
        "content": [{"type": "text", "text": json.dumps(payload, ensure_ascii=False, default=str)}],
        "isError": is_error,
    }
    if version in STRUCTURED_CONTENT_VERSIONS:
        result["structuredContent"] = payload
    return result


def _refused_arguments(context: ToolContext, fields: dict, message: str) -> dict:
    """Arguments the tool refuses: a tool result the model reads, or -32602 before 2025-11-25."""
    if context.protocol_version not in ARGUMENT_ERRORS_AS_RESULTS_VERSIONS:
        raise invalid_arguments(fields, message)
    envelope = errors.envelope("VALIDATION_ERROR", message, {"fields": fields})
    return _tool_error(context, envelope)


def _tool_error(context: ToolContext, envelope: dict) -> dict:
    """A refusal the model reads, redacted as answers are: some messages quote the arguments. A
    refusal of the scope itself (an unknown ``X-Synchronex-Scope``) has no keys to redact."""
    try:
        if redacts(context.scrub):
            envelope = answer_redacted(envelope, context.scrub)
    except errors.ServiceError:
        pass
    return tool_result(envelope, version=context.protocol_version, is_error=True)


def call(context: ToolContext, params: dict) -> dict:
    """Run ``tools/call``: the result, or RpcError for protocol-level failures."""
    name = params.get("name")
    if not isinstance(name, str):
        raise invalid_arguments({"name": ["The tool name must be a string."]}, "Invalid params: no tool name.")
    found = TOOLS.get(name)
    if found is None:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name[:100]}", {"tools": sorted(TOOLS)})
    arguments = params.get("arguments", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise invalid_arguments({"arguments": ["Must be an object."]})
    if not context.allows(found.scope):
        raise insufficient_scope(found.scope)
    arguments = found.normalised(arguments)
    fields = _field_errors(found.validator, arguments)
    for name in _nul_arguments(arguments, found.checked_per_item):
        fields.setdefault(name, []).append(NUL_MESSAGE)
    if fields:
        return _refused_arguments(context, fields, "Invalid arguments.")
    try:
        # Every answer is AI-facing: stored text, whichever tool returns it, comes back redacted.
        payload = found.handler(context, arguments)
        if not found.redacts_itself and redacts(context.scrub):
            payload = answer_redacted(payload, context.scrub)
    except errors.ValidationFailed as exc:
        fields = (exc.details or {}).get("fields") or {"arguments": [exc.message]}
        return _refused_arguments(context, fields, exc.message)
    except errors.ServiceError as exc:
        if exc.status >= 500:
            raise
        return _tool_error(context, errors.envelope(exc.code, exc.message, exc.details))
    return tool_result(payload, version=context.protocol_version)


def validated(serializer_class, data: dict) -> dict:
    """Run one of the REST API's own body serializers, so MCP and REST share every rule."""
    from synchronex.api.exceptions import to_service_error

    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        from rest_framework.exceptions import ValidationError

        raise to_service_error(ValidationError(serializer.errors))
    return dict(serializer.validated_data)
