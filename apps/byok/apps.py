from django.apps import AppConfig


class ByokConfig(AppConfig):
    """Encrypted provider credentials (bring your own key)."""

    name = "apps.byok"
    label = "byok"

    def ready(self):
        from . import checks  # noqa: F401 - registers the FERNET_KEYS check
