"""Where a decision keeps the original id of the decision it supersedes until a MIF import brings
that one (a successor imported first); its index is built concurrently (writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("decisions", "0009_decision_words")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="supersedes_pending",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        AddIndexConcurrently(
            model_name="decision",
            index=models.Index(
                condition=models.Q(supersedes_pending__isnull=False),
                fields=["space", "supersedes_pending"],
                name="decision_supersedes_pending",
            ),
        ),
    ]
