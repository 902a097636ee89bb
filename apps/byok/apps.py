from django.apps import AppConfig


class ByokConfig(AppConfig):
    """Encrypted provider credentials (bring your own key)."""

    name = "apps.byok"
    label = "byok"
