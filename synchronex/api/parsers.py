"""The JSON body parser: bounded size, strict UTF-8, and clear errors for malformed input."""

from __future__ import annotations

import json
import math
import re
import sys
from decimal import Decimal, InvalidOperation

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from synchronex.api import errors
from synchronex.api.middleware import body_limit_for


class StrictJSONParser(JSONParser):
    """Reads at most the path's body limit; rejects invalid UTF-8, bad JSON, absurd nesting, and
    values no column can hold: numbers beyond a double (``1e400``, which Python reads as infinity
    and PostgreSQL's jsonb refuses; ``1e-400``, not zero, which it reads as 0.0) and lone UTF-16
    surrogates (``"\\ud800"``, not a character: no UTF-8 text can carry it). Both answer
    VALIDATION_ERROR for the whole body, as invalid UTF-8 does, so nothing of such a body is ever
    stored; so does an object that repeats a key (its message names the key)."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = body_limit_for(request.path if request is not None else "")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise errors.PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        if not raw.strip():
            return {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not valid UTF-8 (byte {exc.start})") from None
        try:
            return loads_strict(text)
        except JsonRefused as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(f"invalid JSON ({exc})") from None


ENCODING_REFUSED = "The request body has a Content-Encoding ({}); send it uncompressed, without one."


def refuse_encoded_body(request) -> None:
    """UNSUPPORTED_MEDIA_TYPE, with ``Accept-Encoding: identity`` (RFC 9110 §15.5.16), for a body
    sent with any Content-Encoding but ``identity``: no parser here decodes one, and reading it as
    if plain answered a gzip body "not valid UTF-8" and stored a plain body declared ``br``."""
    coding = request.META.get("HTTP_CONTENT_ENCODING")
    if coding is None or request.META.get("CONTENT_LENGTH") in (None, "", "0"):
        return  # no body: nothing was encoded (the middleware gave a chunked body its length)
    if any(part.strip().lower() not in ("", "identity") for part in coding.split(",")):
        raise errors.UnsupportedMediaType(ENCODING_REFUSED.format(coding[:40]), headers={"Accept-Encoding": "identity"})


class JsonRefused(ValueError):
    """Well-formed JSON that breaks a rule of ``loads_strict`` (its message says which)."""


def loads_strict(text: str):
    """``json.loads`` with the API's rules, for every JSON body it reads (REST and MCP): no NaN or
    Infinity, no number beyond a double (too large, or not zero and too small: ``_finite_float``),
    no integer longer than Python reads (``_readable_int``), no nesting past ``MAX_DEPTH``, no lone
    surrogate, and no
    object that repeats a key (at any depth): Python would keep the last value silently, another
    reader the first, so ``{"workspace_id": "<id>", "workspace_id": null}`` means nothing certain.

    Raises ``JsonRefused`` for a broken rule, and ``ValueError`` (JSONDecodeError) for text that
    is not JSON.
    """
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_readable_int,
            object_pairs_hook=unique_keys,
        )
    except RecursionError:
        raise JsonRefused("JSON is nested too deeply") from None
    if depth_exceeds(value, MAX_DEPTH):
        # Code that walks a body (validators, renderers) recurses; no real document nests this deep.
        raise JsonRefused(f"JSON is nested more than {MAX_DEPTH} levels deep")
    # A lone surrogate can only arrive as a \\uXXXX escape (the UTF-8 decode refuses it as bytes),
    # so only bodies with such an escape are walked.
    if _SURROGATE_ESCAPE.search(text) and has_lone_surrogate(value):
        raise JsonRefused("JSON holds a lone UTF-16 surrogate (\\ud800–\\udfff), which is not a character")
    return value


MAX_DEPTH = 64


def depth_exceeds(value, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (an iterative walk: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``json.loads``'s ``object_pairs_hook`` that refuses (``JsonRefused``, naming it) an object
    that repeats a key: ``loads_strict``'s rule, for readers that keep their own other rules."""
    obj = dict(pairs)
    if len(obj) != len(pairs):  # the usual case costs one comparison; only a repeat is looked for
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise JsonRefused(f"JSON object repeats the key {json.dumps(repeated[:50])}")
    return obj


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JsonFloat(float):
    """A JSON number with a fraction or an exponent: a float to every reader, that also keeps the
    digits sent in ``literal``. A double holds 15–17 significant digits, so ``9999999999.999999``
    reads as ``9999999999.999998``; money (SPEC §9: exact decimal) is read from ``literal``
    instead, via ``exact_decimal``."""

    __slots__ = ("literal",)


# RFC 8259's number, in ASCII digits: Decimal() alone also reads "1_000", any Unicode digit
# ("١٢" is 12), ".5", "+5", "Infinity" and "NaN", none of which a JSON number may be.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_WHITESPACE = " \t\n\r"


def exact_decimal(number: int | float | str) -> Decimal:
    """The decimal a JSON number or string spells: a ``JsonFloat``'s digits as sent, any other float
    its shortest spelling (not its binary expansion), a string only when it spells a JSON number
    (JSON's whitespace around it allowed). Raises ``InvalidOperation`` for any other string."""
    if isinstance(number, JsonFloat):
        return Decimal(number.literal)
    if isinstance(number, str):
        spelled = number.strip(_JSON_WHITESPACE)
        if not _JSON_NUMBER.fullmatch(spelled):
            raise InvalidOperation(f"not a JSON number: {number[:40]!r}")
        return Decimal(spelled)
    return Decimal(str(number))


# The one rule for a number sent as text (query parameters, headers). int() and float() alone
# read "1_0" as 10, any Unicode digit ("٣" is 3, "１" is 1), "+5" and Unicode spaces around it,
# so a typo "limit=1_00" became 100. A sign is read (a negative then fails the caller's range,
# with the range's message); "+" is not, as in JSON.
_INTEGER = re.compile(r"-?[0-9]+")


def ascii_integer(text: str) -> int | None:
    """The integer ``text`` spells in ASCII digits (JSON whitespace around it trimmed), or None."""
    spelled = text.strip(_JSON_WHITESPACE)
    if not _INTEGER.fullmatch(spelled):
        return None
    try:
        return int(spelled)
    except ValueError:  # over 4,300 digits: int() refuses to read so many
        return None


def ascii_number(text: str) -> float | None:
    """The float of a JSON number spelled in ``text`` (JSON whitespace around it trimmed), or None.
    It may be infinite (``1e400``): callers check their range."""
    spelled = text.strip(_JSON_WHITESPACE)
    return float(spelled) if _JSON_NUMBER.fullmatch(spelled) else None


def _readable_int(literal: str) -> int:
    """An integer literal as ``int``, or ``JsonRefused`` past the digits Python converts
    (``sys.get_int_max_str_digits()``): int() refuses those with its own advice to call
    ``sys.set_int_max_str_digits()``, which a client was answered."""
    limit = sys.get_int_max_str_digits()
    if limit and len(literal) - literal.startswith("-") > limit:
        raise JsonRefused(f"JSON holds an integer of more than {limit} digits")
    return int(literal)


def _finite_float(literal: str) -> float:
    """A float literal as a ``JsonFloat``, or ``JsonRefused`` when no double holds it: beyond the
    largest (``1e400`` reads as infinity) or, not zero, below the smallest (``1e-400`` reads as
    0.0, so a value the client sent as non-zero would be stored as zero without a word). A zero
    spelled any way (``0.0``, ``-0e5``) is a zero; a subnormal (``5e-324``) is a double and taken."""
    value = JsonFloat(literal)
    if math.isinf(value):
        raise JsonRefused(f"JSON holds a number too large for a double ({literal[:40]})")
    if value == 0 and _NON_ZERO_MANTISSA.match(literal):
        raise JsonRefused(f"JSON holds a number too small for a double ({literal[:40]}), which would read as 0")
    value.literal = literal
    return value


# A float literal whose digits before the exponent are not all zeros.
_NON_ZERO_MANTISSA = re.compile(r"-?[0-9.]*[1-9]")


class TooSmallFloat(float):
    """A JSON number that is not zero but reads as 0.0 (``1e-400``), as ``marked_float`` gives it
    to a reader that reports such a value per item (``apps.memory.services.unstorable``) instead of
    refusing the whole body; ``literal`` keeps the digits sent."""

    __slots__ = ("literal",)


def marked_float(literal: str) -> float:
    """``json.loads``'s ``parse_float`` for the MIF import, which parses the body itself so that a
    bad value costs only its own item: a float, or a ``TooSmallFloat`` for a non-zero literal that
    reads as 0.0 (``_finite_float`` refuses that literal for every other body). A number beyond a
    double reads as infinity, as before, and is reported per item the same way."""
    value = float(literal)
    if value or not _NON_ZERO_MANTISSA.match(literal):
        return value
    marked = TooSmallFloat(value)
    marked.literal = literal
    return marked


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_leaves(value):
    """Every key, string, number, boolean and null of a parsed JSON value (an iterative walk: no
    nesting depth can exhaust the stack)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            yield node


def has_lone_surrogate(value) -> bool:
    """Whether any string or key of a parsed JSON value holds a lone surrogate."""
    return any(isinstance(leaf, str) and _SURROGATE.search(leaf) for leaf in json_leaves(value))
