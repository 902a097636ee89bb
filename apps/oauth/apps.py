from django.apps import AppConfig


class OAuthConfig(AppConfig):
    """The OAuth 2.1 authorization server: configuration of django-oauth-toolkit, consent, metadata."""

    name = "apps.oauth"
    label = "synchronex_oauth"

    def ready(self) -> None:
        from django.db.models.signals import pre_save
        from oauth2_provider.models import get_application_model

        from apps.oauth.registration import no_secret_for_public_clients

        pre_save.connect(
            no_secret_for_public_clients, sender=get_application_model(), dispatch_uid="apps.oauth.no_secret"
        )
