"""Trigram indexes of the part of a product state's text and of a generic memory's content that
memory search's typo tolerance compares (``apps.memory.models.typo_text``: the first
``TYPO_TEXT_MAX`` characters); built concurrently (writes go on meanwhile). The indexes of the
whole texts stay: they serve words inside runs of scripts written without spaces."""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("memory", "0009_inner_words")]

    operations = [
        AddIndexConcurrently(
            model_name="memory",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("space"),
                django.contrib.postgres.indexes.OpClass(
                    models.Func(
                        models.F("content"), output_field=models.TextField(), template="left(%(expressions)s, 2000)"
                    ),
                    name="gin_trgm_ops",
                ),
                name="memory_space_typo_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="productsearch",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("space"),
                django.contrib.postgres.indexes.OpClass(
                    models.Func(
                        models.F("text"), output_field=models.TextField(), template="left(%(expressions)s, 2000)"
                    ),
                    name="gin_trgm_ops",
                ),
                name="productsearch_space_typo_trgm",
            ),
        ),
    ]
