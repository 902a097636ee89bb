"""The admin's list of every space's kernel revisions, in its order, read from an index instead of sorting
the whole table; built concurrently (writes go on meanwhile)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("identity", "0004_kernel_product_name_key"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="kernelrevision",
            index=models.Index(fields=["-version", "-id"], name="kernelrevision_version"),
        ),
    ]
