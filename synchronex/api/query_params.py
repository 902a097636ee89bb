"""The query parameters an API operation takes: exactly those its OpenAPI operation lists.

There is one list. ``extend_schema(parameters=...)`` on the view method documents a query parameter
(an ``OpenApiParameter`` in the query, or a serializer whose fields drf-spectacular spreads into
query parameters), and ``ApiView`` lets through only those names, refusing any other before the
view does anything (``refuse_unknown`` says how reads that take some answer it): a client sending
``?dry_run=true`` to a route without it must not get the real write, nor a misspelt filter the
unfiltered answer. The route still checks the values (and repeats) of the names it takes.
``tests/test_paging_params.py`` walks the OpenAPI document to hold both halves: every listed name
is taken, and any other is refused on every operation.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, unquote_to_bytes

from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiParameter

from synchronex.api import errors
from synchronex.api.serializers import UNKNOWN_QUERY_PARAMETER

# (view class, method) → the names it takes; read once per process from the view's schema.
_DECLARED: dict[tuple[type, str], frozenset[str]] = {}


def declared(view, method: str) -> frozenset[str]:
    """The query parameter names ``view`` documents for ``method`` (HEAD: GET's)."""
    method = "GET" if method == "HEAD" else method
    key = (type(view), method)
    names = _DECLARED.get(key)
    if names is None:
        names = _DECLARED[key] = _read(view, method)
    return names


def _read(view, method: str) -> frozenset[str]:
    # The schema class ``extend_schema`` puts on the method, where drf-spectacular's generator
    # looks for it too (``SchemaGenerator.create_view``); a method without one documents none.
    schema_class = getattr(getattr(view, method.lower(), None), "kwargs", {}).get("schema")
    if schema_class is None:
        return frozenset()
    schema = schema_class()
    schema.view, schema.method = view, method  # what its ``methods=`` scoping reads
    names: set[str] = set()
    for parameter in schema.get_override_parameters():
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY and not parameter.response and not parameter.exclude:
                names.add(parameter.name)
        else:  # a serializer: drf-spectacular lists each of its writable fields as a query parameter
            fields = force_instance(parameter).fields
            names.update(name for name, field in fields.items() if not field.read_only)
    return frozenset(names)


READS = frozenset({"GET", "HEAD"})
NOT_UTF8 = "Not UTF-8: percent-encode the UTF-8 bytes of this parameter."


def refuse_undecodable(request) -> None:
    """VALIDATION_ERROR naming each query parameter whose name or value, percent-decoded, is not
    UTF-8, raised before the view runs. A query is percent-encoded UTF-8 (RFC 3986 §2.5), and Django
    reads a byte that is not with U+FFFD in its place: ``?product=Caf%E9`` (a Latin-1 é) searched a
    product named "Caf\ufffd", where the same name in a product path is refused
    (``raw_path.name_from_path``). Django splits the query on "&" only, and so does this. A query
    without "%" or a byte beyond ASCII is UTF-8 already (the usual case: one scan of it)."""
    raw = request.META.get("QUERY_STRING", "")
    if "%" not in raw and raw.isascii():
        return
    problems = {}
    for pair in raw.split("&"):
        name, _, value = pair.partition("=")
        if not (_is_utf8(name) and _is_utf8(value)):
            problems[unquote_plus(name, errors="replace")] = NOT_UTF8
    if problems:
        raise errors.ValidationFailed.for_query(problems)


def _is_utf8(escaped: str) -> bool:
    try:
        # The WSGI server hands the query's bytes over as Latin-1 characters (PEP 3333).
        sent = escaped.replace("+", " ").encode("latin-1")
    except UnicodeEncodeError:
        return True  # already text, not bytes as Latin-1 (as ``raw_path.path_is_utf8`` reads it)
    try:
        unquote_to_bytes(sent).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def refuse_unknown(view, request) -> None:
    """VALIDATION_ERROR naming each query parameter the operation does not take, raised before the
    view runs. A read that takes parameters is the exception: its own check of its query names the
    unknown ones together with its other problems, in one answer (as a body's unknown fields are),
    and ``still_unanswered`` makes the answer that error should the view not. A request without a
    query string costs one dictionary lookup.

    OPTIONS is not checked: it has no schema of its own and does nothing with its query (it answers
    204 with ``Allow`` whatever is asked), so no name sent with it can be ignored to any effect —
    simpler, and as true, as checking it against the union of the route's methods' names."""
    if request.method == "OPTIONS" or not request.META.get("QUERY_STRING"):
        return
    takes = declared(view, request.method)
    unknown = request.query_params.keys() - takes
    if not unknown:
        return
    error = errors.ValidationFailed.for_query(dict.fromkeys(sorted(unknown), UNKNOWN_QUERY_PARAMETER))
    if takes and request.method in READS:
        request.unknown_query = error
        return
    raise error


def still_unanswered(request, response) -> errors.ServiceError | None:
    """The refusal ``refuse_unknown`` left to a read's own check, if the view answered without it
    (anything but a 400 or a server error)."""
    error = getattr(request, "unknown_query", None)
    if error is None or response.status_code == 400 or response.status_code >= 500:
        return None
    return error
