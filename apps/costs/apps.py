from django.apps import AppConfig


class CostsConfig(AppConfig):
    """AI cost events and their summaries."""

    name = "apps.costs"
    label = "costs"
