"""The admin's list of every space's memories, in its order, read from an index instead of sorting
the whole table; built concurrently (writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memory", "0007_search_documents"),
        ("scopes", "0003_activescope_keeps_deleted_workspace_id"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memory",
            index=models.Index(fields=["-created_at", "-id"], name="memory_created"),
        ),
    ]
