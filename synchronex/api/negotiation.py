"""Content negotiation: DRF's, with its answer for the Accept headers API clients send given at once.

Nearly every request accepts anything (``*/*``, or no Accept header) or ``application/json``;
DRF parses and orders the header each time to reach the same answer (about 50 µs a request).
Any other header, and a format given in the URL (the schema routes), still goes through DRF's
negotiation. There is no ``?format=`` override (``URL_FORMAT_OVERRIDE`` is None).

An Accept that no renderer satisfies gets the view's own representation (JSON), never a refusal
(RFC 9110 §12.1 lets a server disregard Accept; the exports always have). DRF negotiates before
authentication, so its refusal answered a request without a token 400 instead of 401, and SPEC §1
has no code for a 406: the client reads the Content-Type it was sent.
"""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer

ANY = "*/*"


def _at_once(accept: str, media_type: str) -> bool:
    return accept == ANY or (accept == media_type and ";" not in accept)


def answered_at_once(request) -> bool:
    """Whether a request (Django's) to an API view rendering JSON gets JSON without negotiation,
    so that negotiation cannot refuse it."""
    return _at_once(request.META.get("HTTP_ACCEPT", ANY), JSONRenderer.media_type)


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", ANY)
        if renderers and not format_suffix:
            first = renderers[0]
            if _at_once(accept, first.media_type):
                return first, first.media_type
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            # The one representation the view has (the schema routes: the one their format names).
            first = self.filter_renderers(renderers, format_suffix)[0] if format_suffix else renderers[0]
            return first, first.media_type
