from django.apps import AppConfig


class DecisionsConfig(AppConfig):
    """The Decision Index and its hybrid search."""

    name = "apps.decisions"
    label = "decisions"
