"""The stored active scope keeps a deleted workspace's id (drops the foreign key constraint; the
index stays), so the scoped accessor can say the workspace is no longer available instead of
silently reading "personal". Deleting a workspace still stamps its members: their memberships go
with it (trigger on scopes_membership, migration api.0004)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0002_activescope_membership"),
    ]

    operations = [
        migrations.AlterField(
            model_name="activescope",
            name="workspace",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="scopes.space",
            ),
        ),
    ]
