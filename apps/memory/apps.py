from django.apps import AppConfig


class MemoryConfig(AppConfig):
    """Generic memories, cross-type search, embeddings (later: MIF and consolidation)."""

    name = "apps.memory"
    label = "memory"

    def ready(self):
        from apps.memory import checks  # noqa: F401 - registers the local-embeddings check
        from apps.memory.search_sources import register_all

        register_all()
