"""Decision text and trigram GIN indexes led by the space, built concurrently (writes go on
meanwhile); each new index exists before the one it replaces is dropped."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("api", "0003_btree_gin"),
        ("decisions", "0006_decision_origin_id"),
        ("products", "0002_productstate_origin_id"),
        ("scopes", "0002_activescope_membership"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="decision",
            index=GinIndex(fields=["space", "search_document"], name="decision_space_document"),
        ),
        AddIndexConcurrently(
            model_name="decision",
            index=GinIndex(models.F("space"), OpClass("decision", name="gin_trgm_ops"), name="decision_space_text_trgm"),
        ),
        RemoveIndexConcurrently(model_name="decision", name="decision_search_document"),
        RemoveIndexConcurrently(model_name="decision", name="decision_text_trgm"),
    ]
