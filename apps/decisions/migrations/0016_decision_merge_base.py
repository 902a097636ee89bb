"""A survivor's own merged fields, recorded when consolidation first merges a copy into it
(``Decision.merge_base``), so that deleting a copy takes out of the survivor what only that copy
gave it. Survivors merged before have none: their own values are estimated from their copies when
one is deleted (``apps.decisions.merges``), so nothing is written here."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("decisions", "0015_decision_updated_at")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="merge_base",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
    ]
