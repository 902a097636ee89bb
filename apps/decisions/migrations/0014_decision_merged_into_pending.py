"""Where a merged copy keeps the original id of the survivor it was merged into until a MIF import
brings that one (copies come first, as superseded decisions do); its index is built concurrently
(writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("decisions", "0013_decision_merged_into")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="merged_into_pending",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        AddIndexConcurrently(
            model_name="decision",
            index=models.Index(
                condition=models.Q(merged_into_pending__isnull=False),
                fields=["space", "merged_into_pending"],
                name="decision_merged_into_pending",
            ),
        ),
    ]
