from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from synchronex.api.health import HealthView

api_v1 = [
    path("", include("apps.scopes.api.urls")),
    path("", include("apps.identity.api.urls")),
    path("", include("apps.products.api.urls")),
    path("", include("apps.decisions.api.urls")),
    path("", include("apps.memory.api.urls")),
    path("", include("apps.costs.api.urls")),
    path("", include("apps.byok.api.urls")),
    path("", include("apps.ingest.api.urls")),
    path("", include("apps.mcp.api.urls")),
    path("openapi.json", SpectacularAPIView.as_view(), {"format": "json"}, name="openapi-json"),
    path("openapi.yaml", SpectacularAPIView.as_view(), {"format": "yaml"}, name="openapi-yaml"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-json"), name="docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("openapi.yaml", SpectacularAPIView.as_view(), {"format": "yaml"}, name="openapi-root"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("apps.mcp.urls")),
    path("", include("apps.oauth.urls")),
    path("", include("apps.accounts.urls")),
]
