"""An index for counting a space's current decisions, built concurrently (writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("decisions", "0007_space_leading_gin_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="decision",
            index=models.Index(
                fields=["space"], condition=models.Q(superseded_by__isnull=True), name="decision_current_space"
            ),
        ),
    ]
