"""The OpenAPI document and its docs page, answering OPTIONS as every API route does (204 with
``Allow``): drf-spectacular's own views answer DRF's metadata body, which the docs page's HTML
renderer cannot render (a 500)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from synchronex.api.views import AnswersOptions


class SchemaView(AnswersOptions, SpectacularAPIView):
    pass


class DocsView(AnswersOptions, SpectacularSwaggerView):
    pass
