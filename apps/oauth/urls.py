from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from apps.oauth import endpoints, views


def metadata_view(view_class):
    """A GET-only metadata document. CSRF-exempt: it takes no cookie and changes nothing, and the
    CSRF check would otherwise answer another method 403 before the view answers 405 with Allow."""
    return csrf_exempt(view_class.as_view())


# DOT builds its metadata and registration responses by reversing these names in its own
# "oauth2_provider" namespace, so the routes keep DOT's names at this site's paths.
protocol_patterns = [
    path("oauth/authorize", views.ConsentView.as_view(), name="authorize"),
    path("api/oauth/token", endpoints.TokenView.as_view(), name="token"),
    path("api/oauth/revoke", endpoints.RevokeView.as_view(), name="revoke-token"),
    path("api/oauth/register", endpoints.RegisterView.as_view(), name="dcr-register"),
    path(
        "api/oauth/register/<str:client_id>",
        endpoints.RegisterManageView.as_view(),
        name="dcr-register-management",
    ),
    path(
        ".well-known/oauth-authorization-server",
        metadata_view(endpoints.ServerMetadataView),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        metadata_view(endpoints.ProtectedResourceMetadataView),
        name="oauth-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/<path:resource_path>",
        metadata_view(endpoints.ProtectedResourceMetadataView),
        name="oauth-resource-metadata-path",
    ),
]

urlpatterns = [
    path("", include((protocol_patterns, "oauth2_provider"))),
    path("settings/apps", views.connected_apps_page, name="connected-apps"),
    path("settings/apps/<int:application_id>/revoke", views.connected_app_revoke_view, name="connected-app-revoke"),
]
