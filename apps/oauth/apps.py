from django.apps import AppConfig


class OAuthConfig(AppConfig):
    """The OAuth 2.1 authorization server: configuration of django-oauth-toolkit, consent, metadata."""

    name = "apps.oauth"
    label = "synchronex_oauth"
