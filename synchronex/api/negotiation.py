"""Content negotiation: DRF's, with its answer for the Accept headers API clients send given at once.

Nearly every request accepts anything (``*/*``, or no Accept header) or ``application/json``;
DRF parses and orders the header each time to reach the same answer (about 50 µs a request).
Any other header, and a format given in the URL (the schema routes), still goes through DRF's
negotiation unchanged. There is no ``?format=`` override (``URL_FORMAT_OVERRIDE`` is None).
"""

from __future__ import annotations

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
        return super().select_renderer(request, renderers, format_suffix)
