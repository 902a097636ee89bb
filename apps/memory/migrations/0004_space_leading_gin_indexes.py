"""Memory text and trigram GIN indexes led by the space, built concurrently (writes go on
meanwhile); each new index exists before the one it replaces is dropped."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("api", "0003_btree_gin"),
        ("memory", "0003_consolidation_job"),
        ("scopes", "0002_activescope_membership"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memory",
            index=GinIndex(fields=["space", "search"], name="memory_space_search"),
        ),
        AddIndexConcurrently(
            model_name="memory",
            index=GinIndex(models.F("space"), OpClass("content", name="gin_trgm_ops"), name="memory_space_content_trgm"),
        ),
        RemoveIndexConcurrently(model_name="memory", name="memory_search_gin"),
        RemoveIndexConcurrently(model_name="memory", name="memory_content_trgm"),
    ]
