"""The JSON body parser: bounded size, strict UTF-8, and clear errors for malformed input."""

from __future__ import annotations

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from synchronex.api import errors
from synchronex.api.middleware import body_limit_for


class StrictJSONParser(JSONParser):
    """Reads at most the path's body limit; rejects invalid UTF-8, bad JSON and absurd nesting."""

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
            value = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError("JSON is nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"invalid JSON ({exc})") from None
        if depth_exceeds(value, MAX_DEPTH):
            # Code that walks a body (validators, renderers) recurses; no real document nests this deep.
            raise ParseError(f"JSON is nested more than {MAX_DEPTH} levels deep")
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


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
