from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Shared API plumbing: errors, auth, limits, idempotency, cache table."""

    name = "synchronex.api"
    label = "api"
    verbose_name = "API plumbing"

    def ready(self):
        from synchronex.api.request_id import install_log_record_factory

        install_log_record_factory()
