"""A signal's title and body go into the search document through ``sx_searchable`` (migration
memory 0013, apps/memory/spaceless.py): a run of a script written without spaces of 2,047 bytes or
more (683 Chinese characters) was dropped from the document, so a long signal written so was found
by no word of it. Its pieces of 500 characters, 250 apart, are words of it now.

Django does not alter a generated column's expression, so the column is changed here by SQL
(``SET EXPRESSION``, PostgreSQL 17+), which computes every row's document again. No trigger reads
the signals' documents.
"""

import django.contrib.postgres.search
from django.db import migrations, models

import apps.memory.spaceless


def set_expression(title: str, body: str) -> str:
    # As Django writes the model's expression (GeneratedField.generated_sql).
    return (
        "ALTER TABLE ingest_signal ALTER COLUMN search_document SET EXPRESSION AS ("
        f"(((setweight(to_tsvector('english'::regconfig, COALESCE({title}, '')), 'A')"
        f" || setweight(to_tsvector('english'::regconfig, COALESCE({body}, '')), 'B'))"
        " || setweight(to_tsvector('english'::regconfig, COALESCE(\"type\", '')), 'C'))"
        " || setweight(to_tsvector('english'::regconfig, COALESCE(\"source\", '')), 'C')));"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0005_deleted_signal_keeps_its_external_id"),
        ("memory", "0013_searchable_long_runs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="signal",
                    name="search_document",
                    field=models.GeneratedField(
                        db_persist=True,
                        expression=django.contrib.postgres.search.CombinedSearchVector(
                            django.contrib.postgres.search.CombinedSearchVector(
                                django.contrib.postgres.search.CombinedSearchVector(
                                    django.contrib.postgres.search.SearchVector(
                                        apps.memory.spaceless.Searchable("title"), config="english", weight="A"
                                    ),
                                    "||",
                                    django.contrib.postgres.search.SearchVector(
                                        apps.memory.spaceless.Searchable("body"), config="english", weight="B"
                                    ),
                                    django.contrib.postgres.search.SearchConfig("english"),
                                ),
                                "||",
                                django.contrib.postgres.search.SearchVector("type", config="english", weight="C"),
                                django.contrib.postgres.search.SearchConfig("english"),
                            ),
                            "||",
                            django.contrib.postgres.search.SearchVector("source", config="english", weight="C"),
                            django.contrib.postgres.search.SearchConfig("english"),
                        ),
                        output_field=django.contrib.postgres.search.SearchVectorField(),
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    set_expression('sx_searchable("title")', 'sx_searchable("body")'),
                    reverse_sql=set_expression('"title"', '"body"'),
                ),
            ],
        ),
    ]
