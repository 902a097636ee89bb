from django.apps import AppConfig


class IngestConfig(AppConfig):
    """Project signals (commits, deploys, blockers, AI usage, …) ingested per product."""

    name = "apps.ingest"
    label = "ingest"

    def ready(self):
        from apps.ingest.search import register

        register()
