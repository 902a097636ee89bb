"""Whether oauthlib can read a request at all, checked before DOT hands it over."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from oauthlib.common import urldecode

from synchronex.api.exceptions import to_service_error


def unreadable_reason(view, request) -> str | None:
    """Why ``request`` cannot be given to oauthlib by ``view`` (a DOT view), or None when it can.

    Django refuses some requests only when their form is first read (a charset other than
    UTF-8, more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS, a multipart body without a boundary),
    and oauthlib refuses a query string that is not form encoding (``%zz``) with a bare
    ValueError while it builds its request, which DOT does not catch. Both are the client's
    mistake: each endpoint answers them as ``invalid_request`` in its own error format.
    """
    try:
        # DOT's own extraction (escaping included), so the check sees what oauthlib would get.
        uri, _method, _body, _headers = view.get_oauthlib_core()._extract_params(request)
    except (BadRequest, SuspiciousOperation, MultiPartParserError) as exc:
        return to_service_error(exc).message
    try:
        urldecode(urlsplit(uri).query)
    except ValueError:
        return "The query string is not valid form encoding: '%' must be followed by two hex digits."
    return None
