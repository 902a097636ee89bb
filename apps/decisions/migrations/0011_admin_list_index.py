"""The admin's list of every space's decisions, in its order, read from an index instead of sorting
the whole table; built concurrently (writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("decisions", "0010_decision_supersedes_pending"),
        ("products", "0002_productstate_origin_id"),
        ("scopes", "0003_activescope_keeps_deleted_workspace_id"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="decision",
            index=models.Index(fields=["-decided_at", "id"], name="decision_decided"),
        ),
    ]
