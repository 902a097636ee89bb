"""The admin's list of every space's signals, in its order, read from an index instead of sorting
the whole table; built concurrently (writes go on meanwhile)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("decisions", "0011_admin_list_index"),
        ("ingest", "0003_signal_goes_with_its_decision"),
        ("products", "0002_productstate_origin_id"),
        ("scopes", "0003_activescope_keeps_deleted_workspace_id"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="signal",
            index=models.Index(fields=["-occurred_at", "-received_at", "-position"], name="signal_occurred"),
        ),
    ]
