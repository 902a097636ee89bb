"""Content negotiation: DRF's, with its answer for the Accept headers API clients send given at once.

Nearly every request accepts anything (``*/*``, or no Accept header) or ``application/json``;
DRF parses and orders the header each time to reach the same answer (about 50 µs a request).
Any other header, and any format override, still goes through DRF's negotiation unchanged.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

ANY = "*/*"


def _at_once(accept: str, media_type: str) -> bool:
    return accept == ANY or (accept == media_type and ";" not in accept)


def _overridden(query) -> bool:
    """Whether the query string asks for a format (DRF's ``URL_FORMAT_OVERRIDE``)."""
    override = api_settings.URL_FORMAT_OVERRIDE
    return bool(override) and override in query


def answered_at_once(request) -> bool:
    """Whether a request (Django's) to an API view rendering JSON gets JSON without negotiation,
    so that negotiation cannot refuse it."""
    return _at_once(request.META.get("HTTP_ACCEPT", ANY), JSONRenderer.media_type) and not _overridden(request.GET)


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", ANY)
        if renderers and not format_suffix and not _overridden(request.query_params):
            first = renderers[0]
            if _at_once(accept, first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
