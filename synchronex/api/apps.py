from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Shared API plumbing: errors, auth, limits, idempotency, cache table."""

    name = "synchronex.api"
    label = "api"
    verbose_name = "API plumbing"

    def ready(self):
        from django.core.signals import request_finished, request_started

        from synchronex.api import openapi_extensions  # noqa: F401 (registers them with drf-spectacular)
        from synchronex.api.raw_path import keep_raw_path
        from synchronex.api.request_id import forget_request_id, install_log_record_factory

        install_log_record_factory()
        request_started.connect(keep_raw_path, dispatch_uid="synchronex.api.raw_path")
        request_finished.connect(forget_request_id, dispatch_uid="synchronex.api.request_id")
