from django.apps import AppConfig


class ScopesConfig(AppConfig):
    """Spaces: the personal space and workspaces that all memory belongs to."""

    name = "apps.scopes"
    label = "scopes"
