from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Shared API plumbing: errors, auth, limits, idempotency, cache table."""

    name = "synchronex.api"
    label = "api"
    verbose_name = "API plumbing"
