"""Signal text and trigram GIN indexes led by the space, built concurrently (writes go on
meanwhile); each new index exists before the one it replaces is dropped."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("api", "0003_btree_gin"),
        ("ingest", "0001_initial"),
        ("scopes", "0002_activescope_membership"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="signal",
            index=GinIndex(fields=["space", "search_document"], name="signal_space_document"),
        ),
        AddIndexConcurrently(
            model_name="signal",
            index=GinIndex(models.F("space"), OpClass("title", name="gin_trgm_ops"), name="signal_space_title_trgm"),
        ),
        RemoveIndexConcurrently(model_name="signal", name="signal_search_document"),
        RemoveIndexConcurrently(model_name="signal", name="signal_title_trgm"),
    ]
