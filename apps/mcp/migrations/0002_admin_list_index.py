"""The admin's list of every space's MCP sessions, in its order, read from an index instead of sorting
the whole table; built concurrently (writes go on meanwhile)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("mcp", "0001_initial"),
        ("products", "0002_productstate_origin_id"),
        ("scopes", "0003_activescope_keeps_deleted_workspace_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="mcpsession",
            index=models.Index(fields=["-started_at", "id"], name="mcp_session_started"),
        ),
    ]
